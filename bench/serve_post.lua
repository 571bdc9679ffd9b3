-- wrk: POST /api/v1/tasks with a new noop task each time, as a user sends
-- one; the ids are unique across wrk's threads (w THREAD - N).
local threads = 0

function setup(thread)
	threads = threads + 1
	thread:set("tid", threads)
end

local n = 0

function request()
	n = n + 1
	return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
		string.format('{"task_id":"w%d-%d","tool_name":"noop","plugin_name":"noop"}', tid, n))
end
