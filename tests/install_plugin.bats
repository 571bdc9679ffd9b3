#!/usr/bin/env bats
# filmeto-plugin install, remove and tools: plugins from directories and
# archives into the user plugin directory, their isolated environments,
# and every kind of hostile archive refused without a byte written
# outside (or, for that matter, inside) the plugin directory.

load test_helper

setup() {
	common_setup
	PLUGINS="$XDG_DATA_HOME/filmeto/plugins"
	# Next to the target: whatever escapes would land around here.
	MARKER="$XDG_DATA_HOME/filmeto/marker"
	mkdir -p "$MARKER"
	echo secret > "$BATS_TEST_TMPDIR/secret"
	make_plugin mypy
}

# make_plugin NAME: src/NAME, a copy of tests/plugins/pyfilmeto named NAME.
make_plugin() {
	mkdir -p src
	rm -rf "src/$1"
	cp -R "$ROOT/tests/plugins/pyfilmeto" "src/$1"
	sed -i "s/^name: pyfilmeto\$/name: $1/" "src/$1/plugin.yml"
	grep -q "^name: $1\$" "src/$1/plugin.yml"
}

# The plugin answers a real task through filmeto-submit | filmeto-run.
runs_task() { # PLUGIN
	filmeto-submit -t text2text -P "$1" -p text=hello -i "t-$1" | filmeto-run -d out > events
	[ "$(jget events 'by("completed")[0]["task_id"]')" = "t-$1" ]
	[ "$(head -n 1 "out/t-$1/out.txt")" = hello ]
}

# Nothing was installed, no staging directory is left, the marker next
# to the target is empty, and no file an archive tried to plant exists.
nothing_written() {
	local left
	left=$(ls -A "$PLUGINS")
	[ -z "$left" ] || { echo "left in the plugin directory: $left"; return 1; }
	[ -z "$(ls -A "$MARKER")" ] || { echo "written into the marker"; return 1; }
	left=$(find "$BATS_TEST_TMPDIR" -name 'escaped*' -print)
	[ -z "$left" ] || { echo "escaped: $left"; return 1; }
	[ "$(cat "$BATS_TEST_TMPDIR/secret")" = secret ]
	[ "$(stat -c %h "$BATS_TEST_TMPDIR/secret")" = 1 ]
}

# refused ARCHIVE TEXT...: install exits 2 naming each TEXT, writes nothing.
refused() {
	local src=$1 t
	shift
	run filmeto-plugin install "$src"
	echo "$output"
	[ "$status" -eq 2 ]
	for t; do
		[[ "$output" == *"$t"* ]] || { echo "missing: $t"; return 1; }
	done
	nothing_written
}

# evil KIND OUT: builds a hostile archive with Python: the plugin's own
# files first (so an unpacker that writes as it goes would have started),
# then the attack.
evil() {
	python3 - "$1" "$2" "$BATS_TEST_TMPDIR" "src/mypy" <<'PY'
import io, os, sys, tarfile, zipfile

kind, out, top, plugin = sys.argv[1:5]
files = {n: open(os.path.join(plugin, n), "rb").read() for n in ("plugin.yml", "main.py")}

def tar_add(t, name, data=b"", type=tarfile.REGTYPE, link="", size=None, **kw):
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode = type, link, 0o644
    for k, v in kw.items():
        setattr(ti, k, v)
    ti.size = len(data) if size is None else size
    t.addfile(ti, io.BytesIO(data) if type == tarfile.REGTYPE else None)

def tar(*entries, mode="w:gz"):
    with tarfile.open(out, mode, format=tarfile.GNU_FORMAT) as t:
        for n, d in files.items():
            tar_add(t, n, d)
        for e in entries:
            tar_add(t, *e[:-1], **e[-1]) if isinstance(e[-1], dict) else tar_add(t, *e)

def zip_(*entries, method=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in files.items():
            z.writestr(n, d)
        for name, data, mode in entries:
            zi = zipfile.ZipInfo(name)
            zi.external_attr = mode << 16
            zi.create_system = 3
            zi.compress_type = method
            z.writestr(zi, data)

def flip(at):  # one byte of data.txt's data, just past its local header
    raw = bytearray(open(out, "rb").read())
    raw[raw.find(b"data.txt") + len(b"data.txt") + at] ^= 0xFF
    open(out, "wb").write(bytes(raw))

if kind == "abs-tar":
    tar((top + "/escaped-abs", b"x"))
elif kind == "abs-zip":
    zip_((top + "/escaped-abs", b"x", 0o100644))
elif kind == "dotdot-tar":
    tar(("../../../../escaped-dotdot", b"x"))
elif kind == "dotdot-zip":
    zip_(("sub/../../../escaped-dotdot", b"x", 0o100644))
elif kind == "symlink-abs":
    tar(("evil", b"", tarfile.SYMTYPE, top + "/data/filmeto/marker"),
        ("evil/escaped-through-link", b"x"))
elif kind == "symlink-rel":
    tar(("evil", b"", tarfile.SYMTYPE, "../../.."), ("evil/escaped-through-link", b"x"))
elif kind == "symlink-zip":
    zip_(("evil", b"../../../..", 0o120777), ("evil/escaped-through-link", b"x", 0o100644))
elif kind == "symlink-chain":
    # Each link alone looks inside; together y is x/.. = the parent.
    tar(("x", b"", tarfile.SYMTYPE, "."), ("y", b"", tarfile.SYMTYPE, "x/.."),
        ("y/escaped-chain", b"x"))
elif kind == "symlink-inside":
    tar(("sub", b"", tarfile.DIRTYPE), ("l", b"", tarfile.SYMTYPE, "sub"),
        ("l/escaped-through-inner-link", b"x"))
elif kind == "hardlink-abs":
    # The classic: a hard link to a file outside, then data written "into" it.
    tar(("h", b"", tarfile.LNKTYPE, top + "/secret"), ("h", b"pwned"))
elif kind == "hardlink-rel":
    tar(("h", b"", tarfile.LNKTYPE, "../../../../secret"), ("h", b"pwned"))
elif kind == "chardev":
    tar(("dev/null", b"", tarfile.CHRTYPE, "", None, {"devmajor": 1, "devminor": 3}))
elif kind == "fifo":
    tar(("fifo", b"", tarfile.FIFOTYPE))
elif kind == "declared-huge":
    # Headers claiming 2 GiB and 7 GiB, their data never follows.
    with open(out, "wb") as f:
        for n, d in files.items():
            ti = tarfile.TarInfo(n); ti.size = len(d)
            f.write(ti.tobuf(tarfile.GNU_FORMAT) + d + b"\0" * (-len(d) % 512))
        for n, size in (("huge.bin", 2 << 30), ("huger.bin", 7 << 30)):
            ti = tarfile.TarInfo(n); ti.size = size
            f.write(ti.tobuf(tarfile.GNU_FORMAT))
        f.write(b"\0" * 1024)
elif kind == "many":
    tar(*[("f/%05d" % i, b"") for i in range(10000)])
elif kind == "badcrc":
    zip_(("data.txt", b"A" * 4096, 0o100644), method=zipfile.ZIP_STORED)
    flip(100)
elif kind == "baddeflate":
    zip_(("data.txt", b"A" * 4096, 0o100644))
    flip(5)
else:
    sys.exit("unknown kind " + kind)
PY
}

@test "install from a directory: listed in the user plugin directory, and it runs" {
	run filmeto-plugin install src/mypy
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "installed mypy 1.0.0 in $PLUGINS/mypy" ]
	[ -f "$PLUGINS/mypy/main.py" ]
	[ "$(ls -A "$PLUGINS")" = mypy ]
	run filmeto-plugin list
	[[ "$output" =~ mypy\ +1.0.0\ text2text\ $PLUGINS/mypy ]]
	runs_task mypy
}

@test "install creates the user plugin directory, under ~/.local/share without XDG_DATA_HOME" {
	unset XDG_DATA_HOME
	export HOME="$BATS_TEST_TMPDIR/home"
	run filmeto-plugin install src/mypy
	[ "$status" -eq 0 ]
	[ -f "$HOME/.local/share/filmeto/plugins/mypy/plugin.yml" ]
}

@test "install from a .tar.gz holding one top-level directory" {
	tar -C src -czf mypy.tar.gz mypy
	run filmeto-plugin install mypy.tar.gz
	[ "$status" -eq 0 ]
	[ -f "$PLUGINS/mypy/main.py" ]
	[ "$(ls -A "$PLUGINS")" = mypy ]
	run filmeto-plugin list
	[[ "$output" =~ mypy\ +1.0.0\ text2text\ $PLUGINS/mypy ]]
	runs_task mypy
}

@test "install from a .tar.xz, and from a .tar.zst when zstd is there" {
	tar -C src -cJf mypy.tar.xz mypy
	run filmeto-plugin install mypy.tar.xz
	[ "$status" -eq 0 ]
	runs_task mypy
	command -v zstd > /dev/null || skip "zstd is not installed"
	make_plugin zplug
	tar -C src --zstd -cf zplug.tar.zst zplug
	run filmeto-plugin install zplug.tar.zst
	[ "$status" -eq 0 ]
	runs_task zplug
}

@test "install from a .zip with the plugin at its top keeps modes and inner links" {
	python3 - <<'PY'
import zipfile
with zipfile.ZipFile("mypy.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for n in ("plugin.yml", "main.py"):
        z.write("src/mypy/" + n, n)
    zi = zipfile.ZipInfo("bin/tool.sh"); zi.external_attr = 0o100755 << 16; zi.create_system = 3
    z.writestr(zi, "#!/bin/sh\necho tool\n")
    zi = zipfile.ZipInfo("tool"); zi.external_attr = 0o120777 << 16; zi.create_system = 3
    z.writestr(zi, "bin/tool.sh")
PY
	run filmeto-plugin install mypy.zip
	[ "$status" -eq 0 ]
	[ -x "$PLUGINS/mypy/bin/tool.sh" ]
	[ "$(readlink "$PLUGINS/mypy/tool")" = bin/tool.sh ]
	[ "$("$PLUGINS/mypy/tool")" = tool ]
	runs_task mypy
}

@test "an installed plugin is refused without --force, replaced with it" {
	filmeto-plugin install src/mypy
	sed -i 's/^version: 1.0.0$/version: 2.0.0/' src/mypy/plugin.yml
	echo new > src/mypy/NEW
	run filmeto-plugin install src/mypy
	[ "$status" -eq 2 ]
	[[ "$output" == *"plugin 'mypy' is already installed in '$PLUGINS/mypy' (--force replaces it)"* ]]
	[[ "$(filmeto-plugin list)" =~ mypy\ +1.0.0\  ]]
	[ ! -e "$PLUGINS/mypy/NEW" ]
	run filmeto-plugin install --force src/mypy
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "installed mypy 2.0.0 in $PLUGINS/mypy" ]
	[[ "$(filmeto-plugin list)" =~ mypy\ +2.0.0\  ]]
	[ -f "$PLUGINS/mypy/NEW" ]
	# Neither the old copy nor a staging directory is left.
	[ "$(ls -A "$PLUGINS")" = mypy ]
	runs_task mypy
}

@test "the plugin is installed under its manifest name, not the source's" {
	mv src/mypy src/some-checkout
	run filmeto-plugin install src/some-checkout
	[ "$status" -eq 0 ]
	[ -d "$PLUGINS/mypy" ]
	[ ! -e "$PLUGINS/some-checkout" ]
}

@test "remove: the user's plugin goes; a bundled one is refused; an unknown one is status 1" {
	filmeto-plugin install src/mypy
	run filmeto-plugin remove mypy
	[ "$status" -eq 0 ]
	[ "$output" = "removed $PLUGINS/mypy" ]
	[ -z "$(ls -A "$PLUGINS")" ]
	[[ "$(filmeto-plugin list)" != *mypy* ]]
	run filmeto-plugin remove titlecard
	[ "$status" -eq 2 ]
	[[ "$output" == *"plugin 'titlecard' is in '$ROOT/plugins/titlecard', not in the user plugin directory"* ]]
	[ -f "$ROOT/plugins/titlecard/plugin.yaml" ]
	run filmeto-plugin remove mypy
	[ "$status" -eq 1 ]
	[[ "$output" == *"no plugin named 'mypy'"* ]]
	run filmeto-plugin remove ../titlecard
	[ "$status" -eq 2 ]
	run filmeto-plugin remove
	[ "$status" -eq 2 ]
}

@test "remove takes a broken plugin by its directory name" {
	mkdir -p "$PLUGINS/broken"
	echo 'name: [' > "$PLUGINS/broken/plugin.yaml"
	run filmeto-plugin remove broken
	[ "$status" -eq 0 ]
	[ ! -e "$PLUGINS/broken" ]
}

@test "tools: each tool with its plugins, the default (first on the path) marked" {
	run filmeto-plugin tools
	[ "$status" -eq 0 ]
	# Remote plugins are listed but never the default: titlecard is.
	[[ "$output" =~ (^|$'\n')text2image\ +Spaced\ Server,\ comfyui,\ gradio,\ http,\ openai,\ titlecard\*($'\n'|$) ]]
	# An installed plugin comes after FILMETO_PLUGIN_PATH's.
	filmeto-plugin install src/mypy
	run filmeto-plugin tools
	line=$(grep '^text2text ' <<<"$output")
	[[ "$line" == *"pyfilmeto, mypy"* ]]
	[[ "$line" != *"mypy*"* ]]
	# Every tool an offline plugin serves has a default; the rest have none.
	[ "$(grep -c '\*' <<<"$output")" -eq "$(grep -c -v -E '^(image2image|text2video) ' <<<"$output")" ]
	export FILMETO_PLUGIN_PATH=
	run filmeto-plugin tools
	# Installed plugins come before the bundled ones, but the bundled outline stays the default.
	[[ "$(grep '^text2text ' <<<"$output")" =~ ^text2text\ +mypy,\ http,\ openai,\ outline\*$ ]]
	filmeto-plugin tools --json > out
	[ "$(jget out 'lines[0]["text2text"]')" = '["mypy", "http", "openai", "outline"]' ]
	[ "$(jget out 'lines[0]["text2image"]')" = '["comfyui", "gradio", "http", "openai", "titlecard"]' ]
	run filmeto-plugin tools extra
	[ "$status" -eq 2 ]
}

@test "runtime: python gets a .venv with its requirements, and filmeto-run uses it" {
	make_plugin venvy
	sed -i '/^name: venvy$/a runtime: python' src/venvy/plugin.yml
	python3 - <<'PY'
import zipfile
p = "src/venvy/main.py"
s = open(p).read()
old = "lines = [text] * repeat"
assert old in s
s = s.replace(old, old + " + [sys.executable, __import__('fmdep').VALUE]")
open(p, "w").write(s)
# A wheel made by hand, so pip installs it offline.
with zipfile.ZipFile("src/venvy/fmdep-1.0-py3-none-any.whl", "w") as z:
    z.writestr("fmdep.py", "VALUE = 'from-the-venv'\n")
    z.writestr("fmdep-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: fmdep\nVersion: 1.0\n")
    z.writestr("fmdep-1.0.dist-info/WHEEL",
               "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr("fmdep-1.0.dist-info/RECORD",
               "fmdep.py,,\nfmdep-1.0.dist-info/METADATA,,\nfmdep-1.0.dist-info/WHEEL,,\n"
               "fmdep-1.0.dist-info/RECORD,,\n")
PY
	printf -- '--no-index\n./fmdep-1.0-py3-none-any.whl\n' > src/venvy/requirements.txt
	tar -C src -czf venvy.tar.gz venvy
	run filmeto-plugin install venvy.tar.gz
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"/python3 -I -m venv --system-site-packages .venv' (python3 on PATH)"* ]]
	[[ "$output" == *"running '.venv/bin/python3 -I -m pip install -r requirements.txt'"* ]]
	[ -x "$PLUGINS/venvy/.venv/bin/python3" ]
	[ "$(ls -A "$PLUGINS")" = venvy ]
	# The system python has no fmdep: only the venv's can run the plugin.
	! python3 -c 'import fmdep' 2> /dev/null
	runs_task venvy
	[ "$(sed -n 2p out/t-venvy/out.txt)" = "$PLUGINS/venvy/.venv/bin/python3" ]
	[ "$(sed -n 3p out/t-venvy/out.txt)" = from-the-venv ]
}

# hostile_setup NAME: src/NAME, a python plugin whose own files try to
# run at install time and write what they find to $LEAK_DIR/leak-WHERE:
# a venv.py that would shadow the venv module, a .venv shipped with a
# .pth file pip's interpreter would run and a pip.conf it would read,
# and a requirement built by an in-tree backend (pip runs that by
# design: it must find no key there).
hostile_setup() {
	make_plugin "$1"
	sed -i "/^name: $1\$/a runtime: python" "src/$1/plugin.yml"
	python3 - "src/$1" <<'PY'
import os, sys
d = sys.argv[1]
dump = ("import os\n"
        "def dump(where):\n"
        "    p = os.path.join(os.environ.get('LEAK_DIR', '/nonexistent'), 'leak-' + where)\n"
        "    with open(p, 'w') as f:\n"
        "        f.write('\\n'.join('%s=%s' % kv for kv in sorted(os.environ.items())) + '\\n')\n")
open(os.path.join(d, "venv.py"), "w").write(dump + "dump('venv-py')\nraise SystemExit(0)\n")
site = os.path.join(d, ".venv/lib/python%d.%d/site-packages" % sys.version_info[:2])
os.makedirs(site)
open(os.path.join(site, "zz-evil.pth"), "w").write(
    "import os; open(os.path.join(os.environ.get('LEAK_DIR', '/nonexistent'), 'leak-pth'), 'w').write('ran')\n")
open(os.path.join(d, ".venv/pip.conf"), "w").write("[global]\nindex-url = http://127.0.0.1:9/evil\n")
pkg = os.path.join(d, "localdep")
os.makedirs(pkg)
open(os.path.join(pkg, "pyproject.toml"), "w").write(
    '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n')
wheel = {
    "localdep.py": "",
    "localdep-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: localdep\nVersion: 1.0\n",
    "localdep-1.0.dist-info/WHEEL":
        "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    "localdep-1.0.dist-info/RECORD": "",
}
open(os.path.join(pkg, "backend.py"), "w").write(dump + (
    "import zipfile\n"
    "def get_requires_for_build_wheel(config_settings=None):\n"
    "    dump('pip')\n"
    "    return []\n"
    "def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n"
    "    name = 'localdep-1.0-py3-none-any.whl'\n"
    "    with zipfile.ZipFile(os.path.join(wheel_directory, name), 'w') as z:\n"
    "        for k, v in %r.items():\n"
    "            z.writestr(k, v)\n"
    "    return name\n") % wheel)
open(os.path.join(d, "requirements.txt"), "w").write("--no-index\n./localdep\n")
PY
}

@test "setup steps get no key and run nothing a plugin ships under a name they import" {
	export LEAK_DIR="$BATS_TEST_TMPDIR/leaks"
	mkdir -p "$LEAK_DIR"
	export OPENAI_API_KEY=sk-live-SECRET-openai-1234 GITHUB_TOKEN=ghp_SECRET_github_5678
	export DB_PASSWORD=SECRET-pw HF_TOKEN=hf_SECRET_token FILMETO_SEEN=visible
	hostile_setup evilpy
	# it declares two of the keys: install time needs them no more
	echo 'env: [OPENAI_API_KEY, HF_TOKEN]' >> src/evilpy/plugin.yml
	tar -C src -czf evilpy.tar.gz evilpy
	run filmeto-plugin install evilpy.tar.gz
	echo "$output"
	[ "$status" -eq 0 ]
	# the venv module was python's, and the shipped .venv was not used
	[ ! -e "$LEAK_DIR/leak-venv-py" ]
	[ ! -e "$LEAK_DIR/leak-pth" ]
	[ -z "$(find "$PLUGINS/evilpy/.venv" -name 'zz-evil.pth' -o -name pip.conf)" ]
	# pip ran the plugin's backend, which saw the environment without a key
	grep -qx 'FILMETO_SEEN=visible' "$LEAK_DIR/leak-pip"
	run ! grep -n 'SECRET' "$LEAK_DIR/leak-pip"
	"$PLUGINS/evilpy/.venv/bin/python3" -c 'import localdep'
	# and npm's install script
	command -v npm > /dev/null || return 0
	make_plugin evilnode
	sed -i '/^name: evilnode$/a runtime: node\ncommand: [python3, main.py]' src/evilnode/plugin.yml
	echo '{"name": "evilnode", "version": "1.0.0", "scripts": {"install": "env > \"$LEAK_DIR/leak-npm\""}}' \
		> src/evilnode/package.json
	run filmeto-plugin install src/evilnode
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx 'FILMETO_SEEN=visible' "$LEAK_DIR/leak-npm"
	run ! grep -n 'SECRET' "$LEAK_DIR/leak-npm"
}

@test "a failing pip fails the install with its last lines and leaves nothing" {
	make_plugin venvy
	sed -i '/^name: venvy$/a runtime: python' src/venvy/plugin.yml
	printf -- '--no-index\nfilmeto-no-such-package-xyz\n' > src/venvy/requirements.txt
	run filmeto-plugin install src/venvy
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"'.venv/bin/python3 -I -m pip install -r requirements.txt' failed: it exited with status 1"* ]]
	[[ "$output" == *"filmeto-no-such-package-xyz"* ]]
	nothing_written
}

@test "an interrupted install stops its setup step and leaves nothing" {
	make_plugin venvy
	sed -i '/^name: venvy$/a runtime: python' src/venvy/plugin.yml
	# Something to install: the venv gets pip, which takes seconds to set up.
	printf -- '--no-index\nfilmeto-never-reached\n' > src/venvy/requirements.txt
	filmeto-plugin install src/venvy 2> err &
	pid=$!
	# Wait until python3 -I -m venv runs in the plugin's folder, then interrupt.
	for _ in $(seq 100); do
		grep -q -- "-I -m venv --system-site-packages .venv'" err && break
		sleep 0.05
	done
	wait_for eval '[ "$(plugin_procs "$PLUGINS")" -gt 0 ]'
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 130 ]
	nothing_written
	# No process is left working in the plugin directory.
	left=$(find /proc/[0-9]*/cwd -maxdepth 0 -lname "$PLUGINS*" 2>/dev/null) || true
	[ -z "$left" ] || { echo "left running: $left"; false; }
}

@test "runtime: node gets npm install --omit=dev when there is a package.json" {
	command -v npm > /dev/null || skip "npm is not installed"
	make_plugin nodey
	sed -i '/^name: nodey$/a runtime: node\ncommand: [python3, main.py]' src/nodey/plugin.yml
	mkdir src/nodey/localdep
	echo '{"name":"localdep","version":"1.0.0"}' > src/nodey/localdep/package.json
	echo '{"name":"nodey","version":"1.0.0","dependencies":{"localdep":"file:./localdep"}}' \
		> src/nodey/package.json
	run filmeto-plugin install src/nodey
	echo "$output"
	[ "$status" -eq 0 ]
	[ -f "$PLUGINS/nodey/node_modules/localdep/package.json" ]
	[ -f "$PLUGINS/nodey/package-lock.json" ]
}

@test "a directory source: inner symlinks are copied; outward ones, FIFOs refused" {
	mkdir src/mypy/sub
	echo data > src/mypy/sub/file
	ln -s sub/file src/mypy/inner
	mkdir -p src/mypy/.venv/bin
	ln -s /usr/bin/python3 src/mypy/.venv/bin/python3
	touch src/mypy/.venv/SHIPPED
	run filmeto-plugin install src/mypy
	[ "$status" -eq 0 ]
	[ "$(cat "$PLUGINS/mypy/inner")" = data ]
	[ -L "$PLUGINS/mypy/inner" ]
	# A development .venv is not copied: install makes its own.
	[ ! -e "$PLUGINS/mypy/.venv/SHIPPED" ]
	[ -x "$PLUGINS/mypy/.venv/bin/python3" ]
	filmeto-plugin remove mypy
	ln -s "$MARKER" src/mypy/evil
	refused src/mypy "'src/mypy': entry 'evil' is a symbolic link to '$MARKER', outside the plugin directory"
	rm src/mypy/evil
	ln -s ../../.. src/mypy/sub/evil
	refused src/mypy "entry 'sub/evil' is a symbolic link to '../../..', outside"
	rm src/mypy/sub/evil
	mkfifo src/mypy/fifo
	refused src/mypy "entry 'fifo' is a FIFO: only files, directories and links are installed"
}

@test "refused: absolute paths (tar and zip)" {
	evil abs-tar abs.tar.gz
	refused abs.tar.gz "'abs.tar.gz': entry '$BATS_TEST_TMPDIR/escaped-abs' has an absolute path"
	evil abs-zip abs.zip
	refused abs.zip "entry '$BATS_TEST_TMPDIR/escaped-abs' has an absolute path"
}

@test "refused: '..' escapes (tar and zip)" {
	evil dotdot-tar dotdot.tar.gz
	refused dotdot.tar.gz "entry '../../../../escaped-dotdot' has a '..' component"
	evil dotdot-zip dotdot.zip
	refused dotdot.zip "entry 'sub/../../../escaped-dotdot' has a '..' component"
}

@test "refused: symbolic links out of the plugin, and files written through them" {
	evil symlink-abs link.tar.gz
	refused link.tar.gz "entry 'evil' is a symbolic link to '$MARKER', outside the plugin directory"
	evil symlink-rel rel.tar.gz
	refused rel.tar.gz "entry 'evil' is a symbolic link to '../../..', outside the plugin directory"
	evil symlink-zip link.zip
	refused link.zip "entry 'evil' is a symbolic link to '../../../..', outside"
	evil symlink-chain chain.tar.gz
	refused chain.tar.gz "entry 'y' is a symbolic link to 'x/..', outside"
	evil symlink-inside inner.tar.gz
	refused inner.tar.gz "entry 'l/escaped-through-inner-link' goes through 'l', which is a symbolic link"
}

@test "refused: hard links out of the plugin" {
	evil hardlink-abs hard.tar.gz
	refused hard.tar.gz "entry 'h' is a hard link to '$BATS_TEST_TMPDIR/secret', which has an absolute path"
	evil hardlink-rel hard2.tar.gz
	refused hard2.tar.gz "entry 'h' is a hard link to '../../../../secret', which has a '..' component"
}

@test "refused: device nodes and FIFOs" {
	evil chardev dev.tar.gz
	refused dev.tar.gz "entry 'dev/null' is a character device: only files, directories and links are installed"
	evil fifo fifo.tar.gz
	refused fifo.tar.gz "entry 'fifo' is a FIFO"
}

@test "refused: size bombs, on declared sizes, before any data is read" {
	evil declared-huge huge.tar
	refused huge.tar "entry 'huge.bin' declares 2147483648 bytes, more than the limit of 512 MiB per file"
	gzip -k huge.tar
	refused huge.tar.gz "entry 'huge.bin' declares 2147483648 bytes"
	# 3 x 400 MiB of zeros as sparse files: a tiny archive, 1.2 GiB unpacked.
	mkdir bomb
	cp src/mypy/plugin.yml src/mypy/main.py bomb/
	for i in 1 2 3; do truncate -s 400M "bomb/zeros$i"; done
	tar -C bomb -cSzf bomb.tar.gz plugin.yml main.py zeros1 zeros2 zeros3
	[ "$(stat -c %s bomb.tar.gz)" -lt 100000 ]
	refused bomb.tar.gz "entry 'zeros3' declares 419430400 bytes, which takes the contents over the limit of 1024 MiB in all"
}

@test "refused: more than 10000 entries" {
	evil many many.tar.gz
	refused many.tar.gz "is one more than the limit of 10000 entries"
}

@test "refused: corrupt, truncated and unrecognized archives" {
	head -c 5000 /dev/urandom > junk.tar.gz
	refused junk.tar.gz "cannot read 'junk.tar.gz'"
	tar -C src -czf good.tar.gz mypy
	head -c "$(($(stat -c %s good.tar.gz) / 2))" good.tar.gz > cut.tar.gz
	refused cut.tar.gz "cut.tar.gz"
	evil badcrc badcrc.zip
	refused badcrc.zip "'badcrc.zip': entry 'data.txt' cannot be read" "CRC"
	evil baddeflate baddeflate.zip
	refused baddeflate.zip "'baddeflate.zip': entry 'data.txt' cannot be read"
	: > empty.zip
	refused empty.zip "empty.zip"
}

@test "refused: no manifest, an invalid manifest, two top-level directories" {
	mkdir -p two/a two/b
	cp src/mypy/plugin.yml two/a/
	tar -C two -czf two.tar.gz a b
	refused two.tar.gz "'two.tar.gz' has no plugin.yaml or plugin.yml at its top or inside one top-level directory"
	sed -i 's|^name: mypy$|name: "bad/name"|' src/mypy/plugin.yml
	tar -C src -czf bad.tar.gz mypy
	refused bad.tar.gz "bad.tar.gz:mypy/plugin.yml:" "name: required"
	refused src/mypy "src/mypy/plugin.yml:" "name: required"
	refused nosuch.tar.gz "cannot open 'nosuch.tar.gz'"
}

@test "install and remove usage errors are status 2" {
	run filmeto-plugin install
	[ "$status" -eq 2 ]
	[[ "$output" == *"usage: filmeto-plugin install [--force] SRC"* ]]
	run filmeto-plugin install a b
	[ "$status" -eq 2 ]
	run filmeto-plugin list --force
	[ "$status" -eq 2 ]
	run filmeto-plugin remove --json mypy
	[ "$status" -eq 2 ]
}
