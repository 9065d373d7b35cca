-- relink's shared state on Redis (docs/cluster.md): one script, one entry per store command, each an atomic step
-- with the meaning cluster::MemoryStore gives it (src/cluster/memory_store.cpp is the reference; keep them in step,
-- tests/cluster/redis_store_test.cpp checks them against each other).
--
-- Called as EVALSHA <sha> 0 <command> <json args>. The C++ side (redis_store.cpp) prepends `local CFG = ...`, the
-- deployment's settings. Returns a JSON document; events go out with PUBLISH:
--   rl:ev:<app>\n<channel>   {x = except, m = message}        to the nodes with local members in the channel
--   rl:n:<node>              {k = "peer"|"end", ...}          to the node holding a session's transport
-- Keys (one Redis primary; every id excludes '\n'):
--   rl:s:<app>\n<user>  session JSON      rl:p:<...> peer log LIST      rl:d:<...> seen message ids ZSET
--   rl:o:<...>          offline LIST      rl:k:<...> kick cool-down     rl:b:<...> ban
--   rl:ms:<app>\n<chan> member HASH: user -> its streams there (JSON list; a join's snapshot reads no session)
--   rl:h:<app>\n<chan>  history LIST      rl:q:<...> last seq
--   rl:e:<app>\n<chan>  last event number (rl:e, rl:q, rl:h: an empty channel's expire)
--   rl:deadlines ZSET session key -> ms   rl:nodes ZSET node -> last heartbeat ms    rl:live:<node> SET
--   rl:epoch            the epoch of every position (made at first use; a Redis that lost its data makes a new one)
-- Payloads are base64url text made by the caller: the script never looks inside them. Channel names are checked by
-- the caller too (`invalid`): the rule lives in one place, common/types.cpp.

local cmd = ARGV[1]
local args = cjson.decode(ARGV[2])

local now, now_us
if args.now ~= nil then
    now = args.now  -- tests on a virtual clock
else
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local L = CFG.limits

-- A Redis without an epoch has no history: a new one, never one used before (the time in microseconds, below 2^53
-- for any JSON parser), or the caller's seed on a virtual clock (tests).
local function epoch()
    local e = redis.call('GET', 'rl:epoch')
    if not e then
        if now_us ~= nil then e = string.format('%d', now_us) else e = args.epoch_seed or tostring(now) end
        redis.call('SET', 'rl:epoch', e)
    end
    return e
end

local function ckey(app, name) return app .. '\n' .. name end
local function sorted_keys(t)
    local out = {}
    for k in pairs(t) do out[#out + 1] = k end
    table.sort(out)
    return out
end
local function count(t)
    local n = 0
    for _ in pairs(t) do n = n + 1 end
    return n
end

local function load(key)
    local raw = redis.call('GET', 'rl:s:' .. key)
    if not raw then return nil end
    return cjson.decode(raw)
end
local function save(key, s)
    redis.call('SET', 'rl:s:' .. key, cjson.encode(s), 'KEEPTTL')  -- a kept session keeps its expiry
end
local function timing(profile) return CFG.timings[profile] end
-- The presence timeout a session agreed at its last login; a session saved by an older script has none.
local function presence_timeout(s) return s.presence_timeout or timing(s.profile).presence_timeout end

-- ------------------------------------------------------------------ events

-- Every event of a channel has the next number of that channel, so a node sees a missed event as a gap and a
-- snapshot tells which events came after it. An empty channel's numbers are kept for the session lifetime (below).
local function to_channel(app, channel, except, message)
    local n = redis.call('INCR', 'rl:e:' .. ckey(app, channel))
    redis.call('PUBLISH', 'rl:ev:' .. ckey(app, channel),
               cjson.encode({a = app, c = channel, x = except, m = message, n = n}))
end
local function to_node(node, event)
    redis.call('PUBLISH', 'rl:n:' .. node, cjson.encode(event))
end
local function end_transport(s, reason)
    if s.attached then
        to_node(s.node, {k = 'end', a = s.app, u = s.user, g = s.gen, r = reason})
    end
end

-- ------------------------------------------------------------------ membership

-- The user's entry in the channel's member hash: its own streams there, as a snapshot shows them.
local function publish_streams(s, channel)
    redis.call('HSET', 'rl:ms:' .. ckey(s.app, channel), s.user, cjson.encode(sorted_keys(s.channels[channel])))
end

local function join_channel(s, channel, streams)
    local ck = ckey(s.app, channel)
    redis.call('SADD', 'rl:channels', ck)
    for _, k in ipairs({'rl:e:', 'rl:q:', 'rl:h:'}) do redis.call('PERSIST', k .. ck) end
    local own = s.channels[channel] or {}
    for _, stream in ipairs(streams) do own[stream] = true end
    s.channels[channel] = own
    publish_streams(s, channel)
    to_channel(s.app, channel, s.user, {k = 'joined', c = channel, u = s.user})
    for _, stream in ipairs(sorted_keys(own)) do
        to_channel(s.app, channel, s.user, {k = 'stream', c = channel, u = s.user, s = stream, on = true})
    end
end

local function leave_channel(s, channel, cause)
    local own = s.channels[channel]
    if own == nil then return end
    for _, stream in ipairs(sorted_keys(own)) do  -- streams end before their member leaves
        to_channel(s.app, channel, s.user, {k = 'stream', c = channel, u = s.user, s = stream, on = false})
    end
    to_channel(s.app, channel, s.user, {k = 'left', c = channel, u = s.user, cause = cause})
    local ck = ckey(s.app, channel)
    redis.call('HDEL', 'rl:ms:' .. ck, s.user)
    if redis.call('HLEN', 'rl:ms:' .. ck) == 0 then
        -- Its positions stay while a session away from it may come back with one (that session is told what it
        -- missed) and while a join on its way elsewhere may compare against its event numbers.
        redis.call('SREM', 'rl:channels', ck)
        for _, k in ipairs({'rl:e:', 'rl:q:', 'rl:h:'}) do redis.call('PEXPIRE', k .. ck, L.empty_channel_kept) end
    end
    s.channels[channel] = nil
end

local function expire_session(key, ms)
    for _, k in ipairs({'rl:s:', 'rl:p:', 'rl:d:'}) do redis.call('PEXPIRE', k .. key, ms) end
end
local function keep_session(key)
    for _, k in ipairs({'rl:s:', 'rl:p:', 'rl:d:'}) do redis.call('PERSIST', k .. key) end
end

-- after: 'forget' | 'retain' | 'away'
local function drop_presence(key, s, cause, after)
    for _, channel in ipairs(sorted_keys(s.channels)) do leave_channel(s, channel, cause) end
    if s.node ~= nil then redis.call('SREM', 'rl:live:' .. s.node, key) end
    s.present = false
    s.attached = false
    s.attributes = {}
    s.token = ''
    s.prev_token = ''
    s.recovery = ''
    s.spent_recovery = ''
    redis.call('ZREM', 'rl:deadlines', key)
    if after == 'forget' then
        redis.call('DEL', 'rl:s:' .. key, 'rl:p:' .. key, 'rl:d:' .. key)
        return
    end
    s.away = after == 'away'
    s.away_until = now + L.session_lifetime
    s.away_from = s.peer_seq
    save(key, s)
    local keep = L.dedup_window
    if s.away and L.session_lifetime > keep then keep = L.session_lifetime end
    expire_session(key, keep)
end

local function snapshot(app, channel, self, e)
    local ck = ckey(app, channel)
    local out = {channel = channel, members = {}, epoch = e, seq = tonumber(redis.call('GET', 'rl:q:' .. ck) or '0'),
                 ev = tonumber(redis.call('GET', 'rl:e:' .. ck) or '0')}
    local flat = redis.call('HGETALL', 'rl:ms:' .. ck)  -- user, streams, user, streams, ...
    local streams_of = {}
    for i = 1, #flat, 2 do
        if flat[i] ~= self then streams_of[flat[i]] = flat[i + 1] end
    end
    for _, member in ipairs(sorted_keys(streams_of)) do
        out.members[#out.members + 1] = {user = member, streams = cjson.decode(streams_of[member])}
    end
    return out
end

local function may_join(s, channel, allowed)
    if allowed ~= nil and #allowed > 0 then
        local ok = false
        for _, a in ipairs(allowed) do if a == channel then ok = true end end
        if not ok then return 'rejected_by_server' end
    end
    if s.channels[channel] == nil and count(s.channels) >= L.max_channels_per_user then return 'limit_exceeded' end
    local mk = 'rl:ms:' .. ckey(s.app, channel)
    if redis.call('HEXISTS', mk, s.user) == 0 and redis.call('HLEN', mk) >= L.max_members_per_channel then
        return 'limit_exceeded'
    end
    return nil
end

local function trim_peer_log(key)
    redis.call('LTRIM', 'rl:p:' .. key, -L.peer_queue_per_user, -1)  -- the gap is reported at the next login
end

local function first_time(key, id)
    local dk = 'rl:d:' .. key
    redis.call('ZREMRANGEBYSCORE', dk, '-inf', now - L.dedup_window)
    if redis.call('ZSCORE', dk, id) then return false end
    redis.call('ZADD', dk, now, id)
    return true
end

-- Whether two secrets are equal, in time that depends on their lengths only (cluster::secrets_equal).
local function secrets_equal(a, b)
    if a == nil or b == nil or #a ~= #b then return false end
    local diff = 0
    for i = 1, #a do diff = bit.bor(diff, bit.bxor(string.byte(a, i), string.byte(b, i))) end
    return diff == 0
end

local function new_session(app, user)
    return {app = app, user = user, gen = 0, present = false, attached = false, away = false, away_until = 0,
            away_from = 0, token = '', prev_token = '', instance = '', channels = {}, attributes = {}, peer_seq = 0,
            profile = 'rtm', peer_address = ''}
end

-- ------------------------------------------------------------------ commands

local C = {}

function C.login(a)
    local key = ckey(a.app, a.user)
    local m = a.request
    if redis.call('PTTL', 'rl:b:' .. key) > 0 then return {error = 'banned_by_server'} end
    local kicked = redis.call('GET', 'rl:k:' .. key)
    if kicked and m.instance ~= '' and m.instance == kicked then return {error = 'remote_login'} end

    local resumed, displaced, proven = false, false, ''
    local s = load(key)
    local recovered = false  -- the login presented the session's current recovery secret (cluster::Login)
    if a.recovery ~= nil then
        if s == nil or not s.present then return {error = 'recovery_expired'} end
        if s.recovery ~= nil and s.recovery ~= '' and secrets_equal(s.recovery, a.recovery) then
            recovered = true
            s.spent_recovery = s.recovery  -- single use
            s.recovery = ''
        elseif s.spent_recovery ~= nil and s.spent_recovery ~= '' and secrets_equal(s.spent_recovery, a.recovery) then
            -- The instance that recovered, trying again (its LoginOk was lost): it resumes; anyone else is refused.
            if m.instance == '' or m.instance ~= s.instance then return {error = 'recovery_used'} end
            recovered = true
        else
            return {error = 'recovery_invalid'}
        end
    end
    if s ~= nil then
        local token_matches = recovered or (m.resume_token ~= nil and m.resume_token ~= '' and
                                  (secrets_equal(m.resume_token, s.token) or secrets_equal(m.resume_token, s.prev_token)))
        if s.present and token_matches then
            resumed = true  -- the same instance within its presence: silent for peers
            if not recovered then proven = m.resume_token end  -- a recovery shows no token
            end_transport(s, nil)
        elseif s.present then
            -- One session per user: the newcomer wins; the old instance may not come back at once.
            end_transport(s, 'remote_login')
            if s.instance ~= '' and s.instance ~= m.instance then
                redis.call('SET', 'rl:k:' .. key, s.instance, 'PX', L.kick_cooldown)
            end
            drop_presence(key, s, 'kicked', 'retain')
            displaced = true
        end
    else
        s = new_session(a.app, a.user)
    end
    local t = a.timings or timing(m.profile)  -- what the hub agreed with the client, else the profile's
    if s.node ~= nil and s.node ~= a.node then redis.call('SREM', 'rl:live:' .. s.node, key) end
    s.profile = m.profile
    s.presence_timeout = t.presence_timeout
    s.node = a.node
    s.gen = s.gen + 1
    s.attached = true
    s.instance = m.instance
    s.peer_address = a.peer_address
    s.present = true
    -- The previous token stays valid until the client shows it has the new one.
    s.prev_token = proven
    s.token = a.new_resume_token
    if not resumed then
        s.recovery = ''  -- a new session: no key of an earlier one recovers it
        s.spent_recovery = ''
    end
    s.attributes = m.attributes
    redis.call('ZREM', 'rl:deadlines', key)
    redis.call('SADD', 'rl:live:' .. a.node, key)
    keep_session(key)

    local wanted, refused = {}, {}
    for _, ch in ipairs(m.channels) do
        local e = ch.invalid and 'invalid_channel_name' or may_join(s, ch.channel, a.allowed)
        if e then refused[ch.channel] = e else wanted[ch.channel] = true end
    end
    for _, name in ipairs(sorted_keys(s.channels)) do
        if not wanted[name] then leave_channel(s, name, 'quit') end
    end
    for _, ch in ipairs(m.channels) do
        if refused[ch.channel] == nil then
            local joined = s.channels[ch.channel]
            if joined == nil then
                join_channel(s, ch.channel, ch.streams)
            else
                local want, changed = {}, false
                for _, stream in ipairs(ch.streams) do want[stream] = true end
                for _, stream in ipairs(sorted_keys(joined)) do
                    if not want[stream] then
                        joined[stream] = nil
                        changed = true
                        to_channel(s.app, ch.channel, s.user,
                                   {k = 'stream', c = ch.channel, u = s.user, s = stream, on = false})
                    end
                end
                for _, stream in ipairs(sorted_keys(want)) do
                    if not joined[stream] then
                        joined[stream] = true
                        changed = true
                        to_channel(s.app, ch.channel, s.user,
                                   {k = 'stream', c = ch.channel, u = s.user, s = stream, on = true})
                    end
                end
                if changed then publish_streams(s, ch.channel) end
            end
        end
    end

    local e = epoch()
    local out = {gen = s.gen, resumed = resumed, displaced = displaced, token = s.token, channels = {}, backfill = {},
                 dropped = 0, epoch = e}
    -- Peer backfill: after the last message this client saw (of this epoch); a client that saw none gets what came
    -- since its user went away. Then the messages stored for it while it had no session.
    local start
    if m.last_peer_seen ~= nil and m.last_peer_seen.epoch == e then
        start = m.last_peer_seen.seq
    elseif s.away then
        start = s.away_from
    else
        start = s.peer_seq
    end
    local log = redis.call('LRANGE', 'rl:p:' .. key, 0, -1)
    if #log > 0 then
        local front = cjson.decode(log[1])
        if front.s > start + 1 then out.dropped = out.dropped + front.s - start - 1 end
    end
    for _, raw in ipairs(log) do
        local msg = cjson.decode(raw)
        if msg.s > start then out.backfill[#out.backfill + 1] = msg end
    end
    local stored = redis.call('LRANGE', 'rl:o:' .. key, 0, -1)
    for _, raw in ipairs(stored) do
        local msg = cjson.decode(raw)
        s.peer_seq = s.peer_seq + 1
        msg.s = s.peer_seq
        msg.e = e
        redis.call('RPUSH', 'rl:p:' .. key, cjson.encode(msg))
        out.backfill[#out.backfill + 1] = msg
    end
    if #stored > 0 then
        redis.call('DEL', 'rl:o:' .. key)
        trim_peer_log(key)
    end
    s.away = false
    if #out.backfill > 0 then out.peer_seq = out.backfill[1].s - 1 else out.peer_seq = s.peer_seq end

    -- Channel messages missed while away: the newest `backfill_count` within the window come back; every other one
    -- is counted as dropped, for every profile.
    for _, ch in ipairs(m.channels) do
        local snap
        if refused[ch.channel] ~= nil then
            snap = {channel = ch.channel, error = refused[ch.channel], members = {}, epoch = '0', seq = 0, ev = 0}
        else
            snap = snapshot(s.app, ch.channel, s.user, e)
            if ch.last_seen ~= nil then
                local same_epoch = ch.last_seen.epoch == e
                local history = redis.call('LRANGE', 'rl:h:' .. ckey(s.app, ch.channel), 0, -1)
                local kept, missed = {}, 0
                if same_epoch then
                    local first_kept = snap.seq + 1
                    if #history > 0 then first_kept = cjson.decode(history[1]).s end
                    -- Older than what the history retains: counted whole, an upper bound (it may include the user's
                    -- own messages).
                    if first_kept > ch.last_seen.seq + 1 then missed = missed + first_kept - ch.last_seen.seq - 1 end
                end
                for _, raw in ipairs(history) do
                    local stored_msg = cjson.decode(raw)
                    local newer = (not same_epoch) or stored_msg.s > ch.last_seen.seq
                    if newer and stored_msg.f ~= s.user then
                        missed = missed + 1
                        if t.backfill_count > 0 and stored_msg.at + t.backfill_window >= now then
                            kept[#kept + 1] = stored_msg
                        end
                    end
                end
                while #kept > t.backfill_count do table.remove(kept, 1) end
                out.dropped = out.dropped + missed - #kept
                if #kept > 0 then snap.seq = kept[1].s - 1 end  -- the position before the backfill
                for _, msg in ipairs(kept) do out.backfill[#out.backfill + 1] = msg end
            end
        end
        out.channels[#out.channels + 1] = snap
    end
    save(key, s)
    return out
end

-- The session as `node` may act on it under `gen`, or nil when that node no longer holds it.
local function owned(a)
    local key = ckey(a.app, a.user)
    local s = load(key)
    if s == nil or not s.present or not s.attached or s.node ~= a.node or s.gen ~= a.gen then return nil, key end
    return s, key
end

function C.kick(a)
    local key = ckey(a.app, a.user)
    if a.ban then redis.call('SET', 'rl:b:' .. key, '1', 'PX', math.max(1, a.ban_for)) end
    local s = load(key)
    if s == nil or not s.present then return {error = 'not_logged_in'} end
    if a.ban then end_transport(s, 'banned') else end_transport(s, 'kicked') end
    drop_presence(key, s, 'kicked', 'forget')
    return {}
end

function C.join(a, s, key)
    local e = may_join(s, a.channel, nil)  -- the node checked the name and the token's grant
    if e then return {error = e} end
    join_channel(s, a.channel, {})
    save(key, s)
    return {snapshot = snapshot(s.app, a.channel, s.user, epoch())}
end

function C.leave(a, s, key)
    if s.channels[a.channel] == nil then return {error = 'not_joined'} end
    leave_channel(s, a.channel, 'quit')
    save(key, s)
    return {}
end

function C.set_stream(a, s, key)
    local own = s.channels[a.channel]
    if own == nil then return {error = 'not_joined'} end
    local changed = false
    if a.on and not own[a.stream] then
        own[a.stream] = true
        changed = true
    elseif (not a.on) and own[a.stream] then
        own[a.stream] = nil
        changed = true
    end
    if changed then
        to_channel(s.app, a.channel, s.user, {k = 'stream', c = a.channel, u = s.user, s = a.stream, on = a.on})
        publish_streams(s, a.channel)
        save(key, s)
    end
    return {}
end

function C.send(a, s, key)
    if not first_time(key, a.id) then return {duplicate = true} end
    if not a.within_rate then
        redis.call('ZREM', 'rl:d:' .. key, a.id)  -- not accepted: a later re-send must be able to go through
        return {error = 'rate_limited'}
    end
    local e = epoch()
    if a.channel ~= nil then
        if s.channels[a.channel] == nil then return {error = 'not_joined'} end
        local ck = ckey(s.app, a.channel)
        local seq = redis.call('INCR', 'rl:q:' .. ck)
        local msg = {f = s.user, c = a.channel, i = a.id, p = a.payload, s = seq, e = e, at = now}
        redis.call('RPUSH', 'rl:h:' .. ck, cjson.encode(msg))
        redis.call('LTRIM', 'rl:h:' .. ck, -L.history_per_channel, -1)
        to_channel(s.app, a.channel, s.user, {k = 'msg', f = msg.f, c = msg.c, i = msg.i, p = msg.p, s = msg.s, e = e})
        return {}
    end
    local tk = ckey(s.app, a.to)
    local t = load(tk)
    if t ~= nil and (t.present or (t.away and now < t.away_until)) then
        t.peer_seq = t.peer_seq + 1
        local msg = {f = s.user, i = a.id, p = a.payload, s = t.peer_seq, e = e}
        redis.call('RPUSH', 'rl:p:' .. tk, cjson.encode(msg))
        trim_peer_log(tk)
        save(tk, t)
        if not t.present then
            local ttl = redis.call('PTTL', 'rl:s:' .. tk)
            if ttl > 0 then redis.call('PEXPIRE', 'rl:p:' .. tk, ttl) end  -- the log lives as long as the session
        end
        if t.attached then
            to_node(t.node, {k = 'peer', a = t.app, u = t.user, g = t.gen,
                             m = {f = msg.f, i = msg.i, p = msg.p, s = msg.s, e = e}})
        end
        return {away = not t.present}
    end
    if a.store_offline then
        redis.call('RPUSH', 'rl:o:' .. tk, cjson.encode({f = s.user, i = a.id, p = a.payload}))
        redis.call('LTRIM', 'rl:o:' .. tk, -L.peer_queue_per_user, -1)
        return {offline = true}
    end
    return {error = 'peer_offline'}
end

function C.set_attributes(a, s, key)
    s.attributes = a.attributes
    save(key, s)
    return {}
end

function C.issue_recovery(a, s, key)
    s.recovery = a.secret
    save(key, s)
    return {}
end

function C.get_attributes(a, s)
    local t = load(ckey(s.app, a.target))
    if t == nil or not t.present then return {error = 'peer_offline'} end
    return {attributes = t.attributes}
end

C['end'] = function(a, s, key)
    local after = 'retain'
    if a.forget then after = 'forget' elseif a.cause == 'dropped' then after = 'away' end
    if a.cause == 'dropped' then redis.call('HINCRBY', 'rl:stats', 'presence_timeouts', 1) end
    drop_presence(key, s, a.cause, after)
    return {}
end

function C.detach(a, s, key)
    s.attached = false
    redis.call('SREM', 'rl:live:' .. s.node, key)
    save(key, s)
    redis.call('ZADD', 'rl:deadlines', now + math.max(0, a.presence_left), key)
    return {}
end

-- The deployment's present sessions and its channels, for the admin API, sorted like MemoryStore's.
function C.list(a)
    local keys = {}
    for _, node in ipairs(redis.call('ZRANGE', 'rl:nodes', 0, -1)) do
        for _, key in ipairs(redis.call('SMEMBERS', 'rl:live:' .. node)) do keys[key] = true end
    end
    for _, key in ipairs(redis.call('ZRANGE', 'rl:deadlines', 0, -1)) do keys[key] = true end
    local out = {sessions = {}, channels = {}}
    for _, key in ipairs(sorted_keys(keys)) do
        local s = load(key)
        if s ~= nil and s.present then
            out.sessions[#out.sessions + 1] = {app = s.app, user = s.user, profile = s.profile, node = s.node,
                                               attached = s.attached, channels = sorted_keys(s.channels),
                                               peer_address = s.peer_address}
        end
    end
    local channels = redis.call('SMEMBERS', 'rl:channels')
    table.sort(channels)
    for _, ck in ipairs(channels) do
        local split = string.find(ck, '\n', 1, true)
        local members = redis.call('HKEYS', 'rl:ms:' .. ck)
        table.sort(members)
        out.channels[#out.channels + 1] = {app = string.sub(ck, 1, split - 1), channel = string.sub(ck, split + 1),
                                           members = members, messages = tonumber(redis.call('GET', 'rl:q:' .. ck) or '0')}
    end
    return out
end

-- ------------------------------------------------------------------ nodes and time

function C.heartbeat(a)
    redis.call('ZADD', 'rl:nodes', now, a.node)
    return {epoch = epoch()}
end

-- The sessions this node really holds (key -> gen; 0: a login on its way): any other it is counted as holding starts
-- its presence countdown now (its transport is gone, or never existed: an answer the node never got).
function C.reconcile(a)
    local released = 0
    for _, key in ipairs(redis.call('SMEMBERS', 'rl:live:' .. a.node)) do
        local s = load(key)
        local held = a.held[key]
        if s == nil or not s.present or not s.attached or s.node ~= a.node then
            redis.call('SREM', 'rl:live:' .. a.node, key)
        elseif held == nil or (held ~= 0 and held ~= s.gen) then
            released = released + 1
            s.attached = false
            redis.call('SREM', 'rl:live:' .. a.node, key)
            save(key, s)
            redis.call('ZADD', 'rl:deadlines', now + presence_timeout(s), key)
        end
    end
    if released > 0 then redis.call('HINCRBY', 'rl:stats', 'reconciled', released) end
    return {released = released}
end

-- The node holds no transport any more (it died or left): presence runs out from `since`.
local function release_node(node, since)
    redis.call('ZREM', 'rl:nodes', node)
    local live = redis.call('SMEMBERS', 'rl:live:' .. node)
    table.sort(live)
    for _, key in ipairs(live) do
        local s = load(key)
        if s ~= nil and s.present and s.attached and s.node == node then
            s.attached = false
            save(key, s)
            redis.call('ZADD', 'rl:deadlines', since + presence_timeout(s), key)
        end
    end
    redis.call('DEL', 'rl:live:' .. node)
end

function C.leave_node(a)
    release_node(a.node, now)
    return {}
end

-- Declares dead the nodes silent for node_dead_after, then reaps the sessions whose presence ran out (at most
-- `batch` of them): any node may call it, as often as it likes; what one call does, the next does not do again.
function C.reap(a)
    local out = {dead = 0, reaped = 0}
    if L.node_dead_after > 0 then
        local silent = redis.call('ZRANGEBYSCORE', 'rl:nodes', '-inf', now - L.node_dead_after, 'WITHSCORES')
        for i = 1, #silent, 2 do
            release_node(silent[i], tonumber(silent[i + 1]))
            redis.call('HINCRBY', 'rl:stats', 'nodes_dead', 1)
            out.dead = out.dead + 1
        end
    end
    local due = redis.call('ZRANGEBYSCORE', 'rl:deadlines', '-inf', now, 'LIMIT', 0, a.batch or 100)
    for _, key in ipairs(due) do
        redis.call('ZREM', 'rl:deadlines', key)
        local s = load(key)
        if s ~= nil and s.present and not s.attached then
            redis.call('HINCRBY', 'rl:stats', 'presence_timeouts', 1)
            drop_presence(key, s, 'dropped', 'away')
            out.reaped = out.reaped + 1
        end
    end
    local next_due = redis.call('ZRANGE', 'rl:deadlines', 0, 0, 'WITHSCORES')
    if #next_due > 0 then out.next = tonumber(next_due[2]) end
    return out
end

-- ------------------------------------------------------------------ dispatch

local handler = C[cmd]
if handler == nil then return cjson.encode({error = 'protocol_error'}) end
-- These act on a user or on the deployment; the others on a session the calling node must hold (fenced).
local unfenced = {login = true, kick = true, heartbeat = true, leave_node = true, reap = true, list = true,
                  reconcile = true}
if unfenced[cmd] then return cjson.encode(handler(args)) end
local s, key = owned(args)
if s == nil then
    redis.call('HINCRBY', 'rl:stats', 'stale_commands', 1)
    return cjson.encode({error = 'not_logged_in'})
end
return cjson.encode(handler(args, s, key))
