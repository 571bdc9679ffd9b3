/* libfilmeto: everything the commands and plugins use, in one include. */
#ifndef FILMETO_H
#define FILMETO_H

#include "buf.h"
#include "cache.h"
#include "combine.h"
#include "config.h"
#include "error.h"
#include "host.h"
#include "http.h"
#include "install.h"
#include "manifest.h"
#include "model.h"
#include "msg.h"
#include "plan.h"
#include "media.h"
#include "ndjson.h"
#include "plugin.h"
#include "proc.h"
#include "render.h"
#include "resource.h"
#include "rpc.h"
#include "exec.h"
#include "scaffold.h"
#include "sdk.h"
#include "spool.h"
#include "storyboard.h"
#include "term.h"
#include "util.h"

#endif
