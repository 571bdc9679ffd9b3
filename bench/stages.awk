# Seconds from each stage's first progress line of a combine to the next
# stage's (the last runs to the completed line), from its event lines:
#   "start 0.01 s, probe 0.03 s, mix 0.07 s, ..."
# Used by bench/combine.sh and bench/animatic.sh.
function ts(s) {
	if (!match(s, /"timestamp":"[^"]*T[0-9:.]*/)) return -1
	s = substr(s, RSTART, RLENGTH); sub(/.*T/, "", s)
	split(s, p, ":")
	return p[1] * 3600 + p[2] * 60 + p[3]
}
/"type":"started"/ { t0 = ts($0); name[++n] = "start"; at[n] = t0 }
/"stage":"/ {
	match($0, /"stage":"[^"]*"/); st = substr($0, RSTART + 9, RLENGTH - 10)
	if (st != name[n]) { name[++n] = st; at[n] = ts($0) }
}
/"type":"completed"/ { end = ts($0) }
END {
	for (i = 1; i <= n; i++) {
		e = (i < n) ? at[i + 1] : end
		if (e < at[i]) e += 86400
		if (name[i] != "done")
			printf "%s%s %.2f s", (i > 1 ? ", " : ""), name[i], e - at[i]
	}
	printf "\n"
}
