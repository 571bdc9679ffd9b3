/*
 * libfilmeto: everything the commands and plugins use, in one include.
 *
 * The library is flat: each module is lib/NAME.c with lib/NAME.h. Its
 * modules by layer, from the wire down to what every module uses:
 *
 * wire       model            tasks, events and results as JSON lines (DESIGN §2)
 *            ndjson           line streams: a bounded reader, a whole-line writer
 *            rpc              JSON-RPC 2.0 framing of the plugin protocol (DESIGN §3)
 * plugins    manifest         plugin.yaml read and normalized; parameter checks
 *            plugin           finding plugins along the search path
 *            plugin_sdk       the plugin side of the protocol, for C plugins
 *            plugin_install   installing and removing plugins under safety rules
 *            plugin_scaffold  filmeto-plugin new and test
 *            host             one plugin process, seen from filmeto-run
 *            builtin          the helpers that serve built-in tools (filmeto-combine)
 * execution  exec             the executor: the DAG, pools, retries, one final line each
 *            prep             a task's inputs made ready on a thread of its own
 *            resource         input resources made into local files
 *            cache            the output cache, keyed by content
 *            proc             child processes in their own groups; orphans; secrets
 *            plan             a task DAG checked (ids, duplicates, cycles) and ordered
 *            storyboard       a storyboard expanded into the task DAG
 * media      render           a libavfilter graph into a file: the one encoding path
 *            media            probing media files and joining them by stream copy
 *            combine          the built-in combine tool: scenes into one film
 *            combine_tool     its manifest and parameter checks, without libav*
 * remote     http             libcurl for the remote plugins, bounded and retried
 *            ws               a WebSocket client, for progress (ComfyUI)
 *            template         request templates and dotted paths into replies
 *            redact           the process's secrets kept out of all it writes
 * spool      spool            tasks queued as plain files, and its locking rules
 *            spool_work       the worker behind filmeto-run --spool
 *            slurm            sbatch options of a task; what Slurm says of jobs
 * base       error            errors as values; the outcome of a run
 *            msg              messages and exit statuses, for commands only
 *            buf              the one growable string
 *            digest           SHA-256, SHA-1, HMAC and base64 (Nettle)
 *            fs               files and paths, read and written whole
 *            yaml             YAML into json-c, with source lines
 *            config           config.yaml and presets
 *            term             text made safe for a terminal
 *            util             allocation, time, ids, json-c accessors
 *
 * prep, ws, template, redact, digest and addr are included where they are used.
 */
#ifndef FILMETO_H
#define FILMETO_H

#include "model.h"
#include "ndjson.h"
#include "rpc.h"

#include "manifest.h"
#include "plugin.h"
#include "plugin_sdk.h"
#include "plugin_install.h"
#include "python.h"
#include "plugin_scaffold.h"
#include "host.h"
#include "builtin.h"

#include "exec.h"
#include "plan.h"
#include "resource.h"
#include "cache.h"
#include "proc.h"
#include "storyboard.h"
#include "slurm.h"
#include "slurm_run.h"

#include "render.h"
#include "media.h"
#include "combine.h"

#include "http.h"
#include "s3.h"

#include "spool.h"

#include "error.h"
#include "msg.h"
#include "version.h"
#include "buf.h"
#include "fs.h"
#include "yaml.h"
#include "config.h"
#include "term.h"
#include "util.h"

#endif
