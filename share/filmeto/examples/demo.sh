#!/bin/sh
# The demo behind `make demo`: one title card through the whole pipeline.
# Every stage is a real filmeto binary; the card lands in filmeto-out/.
set -e
filmeto-submit -t text2image -i demo-card \
	-p prompt='filmeto renders this card with libavfilter' \
	-p width=1280 -p height=720 \
	| filmeto-run -d filmeto-out \
	| filmeto-watch >/dev/null
echo "demo: wrote filmeto-out/demo-card/card.png"
