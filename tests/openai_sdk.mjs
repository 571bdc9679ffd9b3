// The official openai npm SDK (tests/node_modules, pinned by
// tests/package.json) as a client of filmeto-serve's OpenAI-compatible
// routes, unchanged but for its base URL: node openai_sdk.mjs BASE_URL KEY
// OUTDIR. It lists the models, makes an image (b64_json and url), speech,
// a streamed chat from tests/plugins/chatter, and a video (created from the
// image, polled, downloaded), writes each output under OUTDIR for
// tests/serve_openai.bats to check with ffprobe and file, and prints what
// it saw as one JSON object.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI, { toFile } from "openai";

const [base, key, out] = process.argv.slice(2);
// No retries: a failure must show, not be papered over.
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0, timeout: 60000 });
const seen = {};
mkdirSync(out, { recursive: true });

const models = [];
for await (const m of client.models.list()) models.push(m.id);
seen.models = models;

let img = await client.images.generate({
	model: "titlecard",
	prompt: "From the OpenAI SDK",
	size: "320x240",
	response_format: "b64_json",
});
writeFileSync(join(out, "image.png"), Buffer.from(img.data[0].b64_json, "base64"));

img = await client.images.generate({ model: "titlecard", prompt: "By URL", size: "320x240" });
seen.url = img.data[0].url;
const got = await fetch(seen.url, { headers: { Authorization: `Bearer ${key}` } });
seen.url_status = got.status;
seen.url_type = got.headers.get("content-type");
writeFileSync(join(out, "image-url.png"), Buffer.from(await got.arrayBuffer()));

const speech = await client.audio.speech.create({
	model: "espeak",
	input: "Hello from the OpenAI SDK",
	voice: "alloy",
	response_format: "wav",
});
seen.speech_type = speech.headers.get("content-type");
writeFileSync(join(out, "speech.wav"), Buffer.from(await speech.arrayBuffer()));

const stream = await client.chat.completions.create({
	model: "chatter",
	messages: [{ role: "user", content: "stream these words back" }],
	stream: true,
});
let text = "";
seen.chunks = 0;
for await (const chunk of stream) {
	const delta = chunk.choices[0]?.delta?.content;
	if (delta) {
		text += delta;
		seen.chunks++;
	}
}
seen.chat = text;

let video = await client.videos.create({
	model: "kenburns",
	prompt: "a slow move over the card",
	seconds: "2",
	size: "320x240",
	input_reference: await toFile(readFileSync(join(out, "image.png")), "card.png", {
		type: "image/png",
	}),
});
seen.video_id = video.id;
seen.progress = [video.progress];
const until = Date.now() + 60000;
while (video.status === "queued" || video.status === "in_progress") {
	if (Date.now() > until) throw new Error(`video ${video.id} still ${video.status}`);
	await new Promise((r) => setTimeout(r, 200));
	video = await client.videos.retrieve(video.id);
	seen.progress.push(video.progress);
}
seen.video_status = video.status;
const content = await client.videos.downloadContent(video.id);
writeFileSync(join(out, "video.mp4"), Buffer.from(await content.arrayBuffer()));

console.log(JSON.stringify(seen));
