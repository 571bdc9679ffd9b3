/*
 * filmeto's page: the queue (GET /api/v1/tasks, polled) with a bar per
 * task fed by its event stream, a form that queues a storyboard (POST
 * /api/v1/films), and the film once its task is done.
 *
 * Streams are read with fetch and a small Server-Sent Events parser, not
 * EventSource: EventSource cannot send an Authorization header, and a key
 * never goes in a URL (the server refuses one there). A browser holds at
 * most six connections to a server, so at most STREAMS_MAX streams are
 * open at once, running tasks first; the others' bars follow the list.
 */
'use strict';

const POLL_MS = 1500;           /* how often the list is asked for */
const RETRY_MS = 2000;          /* a dropped stream is opened again after this */
const STREAMS_MAX = 3;          /* open streams at once: the rest of six is for requests */
const ROWS_MAX = 200;           /* tasks shown, newest first */
const LIST_LIMIT = 1000;        /* the server's largest page */
const PAGES_MAX = 100;          /* pages read a poll: the newest of 100,000 tasks */
const UPLOAD_MAX = 1024 * 1024; /* the server's FM_STORYBOARD_MAX */
const KEY_STORE = 'filmeto-key';

const $ = (id) => document.getElementById(id);
const tasks = new Map(); /* id -> {li, bar, pct, meta, state, tool, percent, stream} */
let key = sessionStorage.getItem(KEY_STORE) || '';
let film = null;         /* the film task shown, or null */
let filmShown = null;    /* the film whose files are on the page */
let streams = 0;
let pollTimer = null;

/* --- the server ---------------------------------------------------------- */

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (key) h.Authorization = 'Bearer ' + key;
  return h;
}

function api(path, opts) {
  const o = Object.assign({}, opts || {});
  o.headers = headers(o.headers);
  o.cache = 'no-store';
  return fetch(path, o);
}

/* The message of an error answer, in the seeds' envelope. */
async function errorOf(res) {
  try {
    const body = await res.json();
    return body.error || {message: res.statusText};
  } catch (e) {
    return {message: res.status + ' ' + res.statusText};
  }
}

function needKey(message) {
  $('key-section').hidden = false;
  $('key-error').textContent = message || '';
  $('server').textContent = 'waiting for a key';
  // The queue is the key's: until one is given there is none to show.
  $('queue-empty').textContent = 'The queue shows once a key is given.';
}

/* --- the queue ----------------------------------------------------------- */

function row(id) {
  let t = tasks.get(id);
  if (t) return t;
  const li = document.createElement('li');
  const name = document.createElement('span');
  const meta = document.createElement('span');
  const barBox = document.createElement('span');
  const bar = document.createElement('progress');
  const pct = document.createElement('span');
  name.className = 'id';
  meta.className = 'meta';
  barBox.className = 'bar';
  pct.className = 'pct';
  bar.max = 100;
  bar.value = 0;
  bar.setAttribute('aria-label', 'progress of ' + id);
  li.dataset.id = id;
  barBox.append(bar, pct);
  li.append(name, meta, barBox);
  t = {li, name, bar, pct, meta, state: '', tool: '', percent: 0, stream: null, last: 0};
  tasks.set(id, t);
  return t;
}

function setPercent(t, percent) {
  if (!(percent >= 0)) return;
  t.percent = Math.min(100, percent);
  t.bar.value = t.percent;
  t.pct.textContent = Math.round(t.percent) + '%';
}

function setState(t, id, state, tool) {
  t.state = state;
  t.tool = tool || t.tool;
  t.li.className = state;
  t.meta.textContent = t.tool + ' · ' + state;
  t.name.textContent = '';
  if (t.tool === 'combine') {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = id;
    b.title = 'show this film';
    b.addEventListener('click', () => showFilm(id));
    t.name.append(b);
  } else {
    t.name.textContent = id;
  }
  if (state === 'done') setPercent(t, 100);
}

function render(list) {
  const ol = $('queue');
  const shown = list.slice(-ROWS_MAX).reverse();
  $('queue-empty').hidden = shown.length > 0;
  $('queue-empty').textContent = 'No task yet.';
  shown.forEach((item, i) => {
    const t = row(item.task_id);
    if (t.state !== item.state || !t.tool) setState(t, item.task_id, item.state, item.tool);
    if (ol.children[i] !== t.li) ol.insertBefore(t.li, ol.children[i] || null);
  });
  while (ol.children.length > shown.length) ol.lastChild.remove();
  /* Rows no longer listed are forgotten, once their streams are done. */
  const listed = new Set(shown.map((x) => x.task_id));
  for (const [id, t] of tasks)
    if (!listed.has(id) && (!t.stream || t.stream === 'ended')) tasks.delete(id);
  /* Running tasks first, then the oldest queued ones: they start next. */
  const want = list.filter((x) => x.state === 'running')
    .concat(list.filter((x) => x.state === 'queued'));
  for (const item of want) {
    if (streams >= STREAMS_MAX) break;
    const t = tasks.get(item.task_id);
    if (t && !t.stream) follow(item.task_id, t);
  }
  if (film && filmShown !== film) {
    const f = list.find((x) => x.task_id === film);
    if (f && f.state !== 'queued' && f.state !== 'running') showFilm(film);
  }
}

/* The whole list, page by page (oldest first); null when a key is wanted. */
async function list() {
  let all = [];
  let after = '';
  for (let n = 0; n < PAGES_MAX; n++) {
    const res = await api('/api/v1/tasks?limit=' + LIST_LIMIT +
                          (after ? '&after=' + encodeURIComponent(after) : ''));
    if (res.status === 401) return null;
    if (!res.ok) throw new Error((await errorOf(res)).message);
    const page = await res.json();
    all = all.concat(page.tasks).slice(-ROWS_MAX);
    if (!page.next) break;
    after = page.next;
  }
  return all;
}

async function poll() {
  clearTimeout(pollTimer);
  try {
    const all = await list();
    if (!all) {
      needKey(key ? 'the server did not take this key' : '');
      return;
    }
    $('key-section').hidden = true;
    $('server').textContent = 'connected';
    render(all);
  } catch (e) {
    $('server').textContent = 'cannot reach the server: ' + e.message;
  }
  pollTimer = setTimeout(poll, POLL_MS);
}

/* --- event streams ------------------------------------------------------- */

/*
 * Server-Sent Events from a byte stream: fields accumulate until a blank
 * line ends the event (the format of the WHATWG HTML standard, 9.2).
 */
function sseParser(onEvent) {
  let buf = '';
  let ev = {event: 'message', data: [], id: null};
  return (text) => {
    buf += text;
    let nl;
    while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
      if (line === '') {
        if (ev.data.length) onEvent({event: ev.event, data: ev.data.join('\n'), id: ev.id});
        ev = {event: 'message', data: [], id: ev.id};
        continue;
      }
      if (line[0] === ':') continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'data') ev.data.push(value);
      else if (field === 'event') ev.event = value;
      else if (field === 'id') ev.id = value;
    }
  };
}

/* Reads a task's stream until its final line; a drop is resumed where it left off. */
async function follow(id, t) {
  const ctl = new AbortController();
  let ended = false;
  t.stream = ctl;
  streams++;
  try {
    const h = t.last ? {'Last-Event-ID': String(t.last)} : {};
    const res = await api('/api/v1/tasks/' + encodeURIComponent(id) + '/stream',
                          {headers: h, signal: ctl.signal});
    if (!res.ok || !res.body) throw new Error('stream answered ' + res.status);
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    const feed = sseParser((ev) => {
      if (ev.id) t.last = Number(ev.id);
      let line;
      try { line = JSON.parse(ev.data); } catch (e) { return; }
      if (line.type === 'progress') setPercent(t, line.percent);
      else if (line.type === 'started' && t.state === 'queued') setState(t, id, 'running');
      else if (line.type === 'completed' || line.type === 'failed' || line.type === 'cancelled') {
        ended = true;
        setState(t, id, line.type === 'completed' ? 'done' : line.type);
        if (id === film) showFilm(id);
      }
    });
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      feed(dec.decode(value, {stream: true}));
    }
  } catch (e) {
    /* A drop or a refusal: the list says what became of the task. */
  }
  streams--;
  if (!ended && t.state !== 'done' && t.state !== 'failed' && t.state !== 'cancelled') {
    setTimeout(() => { t.stream = null; }, RETRY_MS);
  } else {
    t.stream = 'ended';
  }
}

/* --- the form ------------------------------------------------------------ */

function problemList(problems) {
  const box = $('problems');
  box.textContent = '';
  const groups = new Map();
  for (const p of problems) {
    const where = p.scene ? 'Scene ' + p.scene : p.field ? 'The film' : 'Other';
    if (!groups.has(where)) groups.set(where, []);
    groups.get(where).push(p);
  }
  for (const [where, list] of groups) {
    const h = document.createElement('h3');
    const ul = document.createElement('ul');
    h.textContent = where;
    for (const p of list) {
      const li = document.createElement('li');
      if (p.field) {
        const f = document.createElement('span');
        f.className = 'field';
        f.textContent = p.field + (p.line ? ' (line ' + p.line + ')' : '') + ': ';
        li.append(f);
      }
      li.append(document.createTextNode(p.message));
      li.dataset.scene = p.scene || '';
      li.dataset.field = p.field || '';
      ul.append(li);
    }
    box.append(h, ul);
  }
  box.hidden = problems.length === 0;
}

async function submitFilm(e) {
  e.preventDefault();
  const text = $('storyboard').value;
  const result = $('film-result');
  problemList([]);
  result.className = '';
  if (!text.trim()) {
    result.className = 'error';
    result.textContent = 'Write or choose a storyboard first.';
    return;
  }
  $('submit').disabled = true;
  result.textContent = 'Queueing…';
  try {
    const json = /^\s*[{[]/.test(text);
    const res = await api('/api/v1/films', {
      method: 'POST',
      headers: {'Content-Type': json ? 'application/json' : 'application/yaml'},
      body: text,
    });
    if (res.status === 201) {
      const body = await res.json();
      result.textContent = 'Queued ' + body.tasks + ' task' + (body.tasks === 1 ? '' : 's') +
        '; the film is ' + body.film_task_id + '.';
      showFilm(body.film_task_id);
      poll();
      return;
    }
    const err = await errorOf(res);
    result.className = 'error';
    if (res.status === 401) needKey('');
    if (res.status === 422 && err.details && Array.isArray(err.details.problems)) {
      const n = err.details.problems.length;
      result.textContent = 'The storyboard has ' + n + ' problem' + (n === 1 ? '' : 's') + ':';
      problemList(err.details.problems);
    } else {
      result.textContent = 'Not queued: ' + err.message;
    }
  } catch (e2) {
    result.className = 'error';
    result.textContent = 'Not queued: ' + e2.message;
  } finally {
    $('submit').disabled = false;
  }
}

function readUpload() {
  const file = $('storyboard-file').files[0];
  if (!file) return;
  if (file.size > UPLOAD_MAX) {
    $('film-result').className = 'error';
    $('film-result').textContent = file.name + ' is larger than ' + UPLOAD_MAX + ' bytes.';
    return;
  }
  file.text().then((text) => {
    $('storyboard').value = text;
    $('film-result').className = '';
    $('film-result').textContent = 'Read ' + file.name + '.';
  });
}

/* --- the film ------------------------------------------------------------ */

function fileUrl(id, n) {
  return '/api/v1/tasks/' + encodeURIComponent(id) + '/files/' + n;
}

/* A URL the page may show: the route itself, or with a key the file fetched into a blob. */
async function mediaUrl(url) {
  if (!key) return url;
  const res = await api(url);
  if (!res.ok) throw new Error((await errorOf(res)).message);
  return URL.createObjectURL(await res.blob());
}

function baseName(path) {
  return String(path).split('/').pop();
}

async function showFilm(id) {
  film = id;
  $('film-section').hidden = false;
  $('film-id').textContent = id;
  const res = await api('/api/v1/tasks/' + encodeURIComponent(id));
  if (!res.ok) {
    $('film-state').textContent = (await errorOf(res)).message;
    return;
  }
  const st = await res.json();
  if (st.state !== 'done') {
    $('film-state').textContent = st.state === 'failed' || st.state === 'cancelled'
      ? 'The film ' + st.state + (st.result && st.result.error ? ': ' + st.result.error.message : '.')
      : 'The film is ' + st.state + '; it shows here when it is done.';
    $('film-video').hidden = true;
    $('contact').hidden = true;
    $('film-files').textContent = '';
    filmShown = st.state === 'queued' || st.state === 'running' ? null : id;
    return;
  }
  if (filmShown === id) return;
  filmShown = id;
  const result = st.result || {};
  const files = result.output_files || [];
  const res2 = result.output_resources || [];
  $('film-state').textContent = 'Done.';
  let video = res2.findIndex((r) => r.type === 'video');
  if (video < 0) video = files.findIndex((f) => /\.(mp4|webm|mkv|mov)$/.test(f));
  const contact = files.findIndex((f) => /-contact\.png$/.test(f));
  const v = $('film-video');
  if (video >= 0) {
    v.src = await mediaUrl(fileUrl(id, video));
    v.hidden = false;
  }
  if (contact >= 0) {
    $('contact-img').src = await mediaUrl(fileUrl(id, contact));
    $('contact').hidden = false;
  }
  const ul = $('film-files');
  ul.textContent = '';
  files.forEach((f, n) => {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = fileUrl(id, n);
    a.textContent = baseName(f);
    a.download = baseName(f);
    if (key) {
      a.addEventListener('click', async (ev) => {
        ev.preventDefault();
        const tmp = document.createElement('a');
        tmp.href = await mediaUrl(a.href);
        tmp.download = a.download;
        tmp.click();
      });
    }
    li.append(a);
    ul.append(li);
  });
}

/* --- start --------------------------------------------------------------- */

document.addEventListener('DOMContentLoaded', () => {
  $('film-form').addEventListener('submit', submitFilm);
  $('storyboard-file').addEventListener('change', readUpload);
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    key = $('key').value.trim();
    sessionStorage.setItem(KEY_STORE, key);
    $('key').value = '';
    poll();
  });
  poll();
});
