#!/bin/sh
# The demo behind `make demo`: hello.yaml rendered offline into a film.
# Every stage is a real filmeto binary and every scene comes from a
# bundled plugin; the film, its subtitles and its contact sheet land in
# the current directory, the scene files in filmeto-out/.
set -e
here=$(dirname "$0")
filmeto-submit --storyboard "$here/hello.yaml" \
	| filmeto-run -d filmeto-out -o hello.mp4 \
	| filmeto-watch >/dev/null
echo "demo: wrote hello.mp4, hello.srt, hello-contact.png and hello.json"
