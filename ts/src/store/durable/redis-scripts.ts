// The Lua the Redis backend runs. Redis runs a script atomically, so a commit — check every
// stamp, write, take the session's next log position, append to its log stream — is all or
// nothing, and no other host's commit to the same session can slip between its check and its
// write. Every script touches the keys of one session only, which share a hash tag
// (`<prefix>{<session>}:...`, redis-keys.ts), so they live in one slot and a Redis Cluster
// runs the script on the node that owns the session.
// KEYS[1] is the session's key base; the request layout is durable/layout.ts's CommitRequest
// with its keys already turned into the session's key suffixes.

/**
 * ARGV[1]: the request as JSON; ARGV[2]: log entries to keep; ARGV[3]: the commit's nonce;
 * ARGV[4]: the session's epoch the host loaded ('' when the session had none); ARGV[5]: how
 * many ms the outcome key '_o:<nonce>' (the commit's log id) is kept, for a host whose
 * connection broke mid-commit; ARGV[6]: the epoch to start when the session has none;
 * ARGV[7]: how long (ms) a dropped session's log, head and epoch are kept, so that a host
 * still following it reads the drop and a session made again under the same id goes on
 * counting revisions; ARGV[8]: the channel told of every commit.
 * Returns {'ok', id, epoch}, {'conflict', field} (a stamp moved, or the epoch: re-plan) or
 * {'present', key} (a key that had to be absent exists).
 */
export const SESSION_COMMIT_LUA = `
local b = KEYS[1]
-- A host that loaded another history of this session (Redis lost it since) must reload before it commits.
local epoch = redis.call('GET', b .. '_epoch')
if epoch then
  if epoch ~= ARGV[4] then return {'conflict', '(epoch)'} end
elseif ARGV[4] ~= '' then
  return {'conflict', '(epoch)'}
end
local req = cjson.decode(ARGV[1])
for _, c in ipairs(req.checks) do
  if c.absentKey then
    if redis.call('EXISTS', b .. c.absentKey) == 1 then return {'present', c.absentKey} end
  else
    local cur = redis.call('HGET', b .. c.key, c.field)
    if c.equals == cjson.null then
      if cur then return {'conflict', c.field} end
    elseif cur ~= c.equals then
      return {'conflict', c.field}
    end
  end
end
-- Redis does not undo a script that fails part-way: every command that could fail (a key of
-- the wrong type) is ruled out before the first write.
local function mustBe(key, kind)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= kind then return redis.error_reply('store key ' .. key .. ' is a ' .. t .. ', not a ' .. kind .. '; nothing was written') end
end
local bad = mustBe(b .. '_log', 'stream') or mustBe(b .. '_keys', 'set')
for _, o in ipairs(req.ops) do
  if bad then break end
  if o.op == 'hset' or o.op == 'hdel' or o.op == 'stamp' then bad = mustBe(b .. o.key, 'hash')
  elseif o.op == 'push' or o.op == 'ltrim' then bad = mustBe(b .. o.key, 'list') end
end
if bad then return bad end
if not epoch then epoch = ARGV[6] end
local head = redis.call('GET', b .. '_head') or '0-0'
local dash = string.find(head, '-', 1, true)
local rev = tonumber(string.sub(head, 1, dash - 1))
local seq = tonumber(string.sub(head, dash + 1))
if req.commit then rev = rev + 1; seq = 0 else seq = seq + 1 end
local r = string.format('%d', rev)
local id = r .. '-' .. string.format('%d', seq)
-- First, as it can still fail (an id at or below the stream's last one: a head key out of step).
redis.call('XADD', b .. '_log', 'MAXLEN', ARGV[2], id, 'e', req.entry, 'n', ARGV[3], 'g', epoch)
local dropped = false
local created = false
for _, o in ipairs(req.ops) do
  local op = o.op
  if op == 'hset' then
    local v = o.value
    if o.stamped then v = r .. '|' .. v end
    redis.call('HSET', b .. o.key, o.field, v)
    redis.call('SADD', b .. '_keys', o.key)
    if o.key == 's' then created = true end
  elseif op == 'hdel' then
    redis.call('HDEL', b .. o.key, o.field)
  elseif op == 'push' then
    -- A new variable's history starts empty (an abandoned staging may have left a list under its name).
    if o.fresh then redis.call('DEL', b .. o.key) end
    redis.call('RPUSH', b .. o.key, r .. '|' .. o.value)
    redis.call('LTRIM', b .. o.key, -o.keep, -1)
    redis.call('SADD', b .. '_keys', o.key)
  elseif op == 'ltrim' then
    redis.call('LTRIM', b .. o.key, -o.keep, -1)
  elseif op == 'del' then
    redis.call('DEL', b .. o.key)
    redis.call('SREM', b .. '_keys', o.key)
  elseif op == 'stamp' then
    redis.call('HSET', b .. o.key, o.field, id)
    redis.call('SADD', b .. '_keys', o.key)
  elseif op == 'alive' then
    redis.call('SET', b .. o.key, '1', 'PX', o.ttlMs)
    redis.call('SADD', b .. '_keys', o.key)
  elseif op == 'drop' then
    -- Every key the session ever wrote, whatever kind of record it holds.
    for _, k in ipairs(redis.call('SMEMBERS', b .. '_keys')) do redis.call('DEL', b .. k) end
    redis.call('DEL', b .. '_keys')
    dropped = true
  end
end
-- The watch log's byte limit: entries of revisions up to trimLog go (XTRIM MINID keeps ids >= the one given).
if req.trimLog then redis.call('XTRIM', b .. '_log', 'MINID', string.format('%d', req.trimLog + 1) .. '-0') end
redis.call('SET', b .. '_head', id)
redis.call('SET', b .. '_epoch', epoch)
if dropped then
  for _, k in ipairs({'_head', '_log', '_epoch'}) do redis.call('PEXPIRE', b .. k, ARGV[7]) end
elseif created then
  for _, k in ipairs({'_log'}) do redis.call('PERSIST', b .. k) end
end
redis.call('SET', b .. '_o:' .. ARGV[3], id, 'PX', ARGV[5])
redis.call('PUBLISH', ARGV[8], id)
return {'ok', id, epoch}
`;

/**
 * One session in one atomic read: {head, epoch or '', log, {suffix, 'h', field, value, ...}...,
 * {suffix, 'l', item, ...}...}, where log is the retained stream ({id, {field, value...}}...).
 * Every key the session wrote is listed in its '_keys' set, so a new kind of record is read
 * with the rest without a change here.
 */
export const SESSION_SNAPSHOT_LUA = `
local b = KEYS[1]
local out = { redis.call('GET', b .. '_head') or '0-0', redis.call('GET', b .. '_epoch') or '' }
if redis.call('EXISTS', b .. '_log') == 1 then out[3] = redis.call('XRANGE', b .. '_log', '-', '+') else out[3] = {} end
for _, k in ipairs(redis.call('SMEMBERS', b .. '_keys')) do
  local t = redis.call('TYPE', b .. k)['ok']
  if t == 'hash' then
    local item = { k, 'h' }
    for _, v in ipairs(redis.call('HGETALL', b .. k)) do item[#item + 1] = v end
    out[#out + 1] = item
  elseif t == 'list' then
    local item = { k, 'l' }
    for _, v in ipairs(redis.call('LRANGE', b .. k, 0, -1)) do item[#item + 1] = v end
    out[#out + 1] = item
  end
end
return out
`;

/**
 * The whole state of a store written by layout 1 (one log stream and one revision counter for
 * every session), read by the migration: {head, epoch, {key, 'h', field, value, ...}...,
 * {key, 'l', item, ...}...}. Read-only; runs on the single Redis that held layout 1.
 */
export const LAYOUT1_SNAPSHOT_LUA = `
local p = KEYS[1]
local out = { redis.call('GET', p .. 'head') or '0-0', redis.call('GET', p .. 'epoch') or '' }
local function hash(key)
  local flat = redis.call('HGETALL', p .. key)
  local item = { key, 'h' }
  for _, v in ipairs(flat) do item[#item + 1] = v end
  out[#out + 1] = item
  return flat
end
local function list(key)
  local item = { key, 'l' }
  for _, v in ipairs(redis.call('LRANGE', p .. key, 0, -1)) do item[#item + 1] = v end
  out[#out + 1] = item
end
local sessions = hash('s')
for i = 1, #sessions, 2 do
  local sid = sessions[i]
  local sk = string.len(sid) .. ':' .. sid
  local vars = hash('v:' .. sk)
  hash('d:' .. sk)
  hash('c:' .. sk)
  hash('t:' .. sk)
  hash('p:' .. sk)
  for j = 1, #vars, 2 do list('h:' .. sk .. ':' .. vars[j]) end
  local runs = hash('r:' .. sk)
  for j = 1, #runs, 2 do list('rt:' .. sk .. ':' .. runs[j]) end
end
return out
`;

// A commit too large for one script (an import of 100,000 variables held Redis for seconds
// in one) is staged (redis-staging.ts): its writes go to staging keys under the session's
// hash tag, a chunk per script, and a short script installs them. A key the session has is
// staged as a copy (COPY, then the commit's writes) named `<stage>k:<suffix>` and listed in
// `<stage>i`; the install swaps each in (RENAME). A history list the commit creates (a new
// variable's) is written under its own name at once and listed in `<stage>n`: no reader sees
// it before the install, since readers find a session's keys through its '_keys' set (swapped
// in with the rest) and a variable through its record — so the install's work does not grow
// with the number of new variables. `<stage>e` holds the log entry. '_staging' names the one
// staging a session may have at a time (another host's import waits its turn or fails
// clearly); it is a lease each chunk renews, so a host that dies mid-staging does not hold
// the session for long.
// Every chunk and the install check that the session's head and epoch are still the ones the
// commit was planned on: the copies are then of the current keys, and nothing the commit was
// planned against has changed.

/**
 * KEYS[1]: the session's key base. ARGV[1]: the staging's suffix ('_x:<id>:'); ARGV[2]: the
 * head the commit was planned on ('0-0': none); ARGV[3]: the session's epoch then; ARGV[4]:
 * how long (ms) the staged copies live; ARGV[5]: '1' for the first chunk (it claims the
 * session); ARGV[6]: how long (ms) the claim lasts without another chunk (its lease, renewed
 * by each); then operations of 4 arguments
 * each: code, suffix, a, b. Codes: c (copy the session's key and list it for install), i (list
 * it for install, no copy: it is deleted first), h (HSET field a = b), x (HDEL a), p (RPUSH a,
 * keep the last b), t (keep the last a), d (delete), + / - (the suffix joins / leaves
 * '_keys'), n (a new list under its own name: cleared of an abandoned staging's leftovers and
 * listed), P (RPUSH a to that list, keep the last b), e (append a to the log entry).
 * Returns {'ok'}, {'conflict', why} (the session moved on: plan again) or {'busy'} (another
 * staging holds the session).
 */
export const STAGE_CHUNK_LUA = `
local b = KEYS[1]
local s = b .. ARGV[1]
local ttl = ARGV[4]
local holder = redis.call('GET', b .. '_staging')
if ARGV[5] == '1' then
  if holder then return {'busy'} end
elseif holder ~= ARGV[1] then
  return {'conflict', '(staging expired)'}
end
redis.call('SET', b .. '_staging', ARGV[1], 'PX', ARGV[6])
if (redis.call('GET', b .. '_head') or '0-0') ~= ARGV[2] or (redis.call('GET', b .. '_epoch') or '') ~= ARGV[3] then
  return {'conflict', '(revision)'}
end
local keysCopy = s .. 'k:_keys'
for i = 7, #ARGV, 4 do
  local op, k, a = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local sk = s .. 'k:' .. k
  if op == 'P' then
    redis.call('RPUSH', b .. k, a)
    redis.call('LTRIM', b .. k, -tonumber(ARGV[i + 3]), -1)
    sk = nil
  elseif op == 'n' then
    if redis.call('SISMEMBER', b .. '_keys', k) == 1 then return {'conflict', k} end
    redis.call('DEL', b .. k)
    redis.call('RPUSH', s .. 'n', k)
    sk = nil
  elseif op == 'c' then
    if redis.call('EXISTS', b .. k) == 1 then redis.call('COPY', b .. k, sk, 'REPLACE') end
    redis.call('RPUSH', s .. 'i', k)
  elseif op == 'i' then
    redis.call('RPUSH', s .. 'i', k)
  elseif op == 'h' then
    redis.call('HSET', sk, a, ARGV[i + 3])
  elseif op == 'x' then
    redis.call('HDEL', sk, a)
  elseif op == 'p' then
    redis.call('RPUSH', sk, a)
    redis.call('LTRIM', sk, -tonumber(ARGV[i + 3]), -1)
  elseif op == 't' then
    redis.call('LTRIM', sk, -tonumber(a), -1)
  elseif op == 'd' then
    redis.call('DEL', sk)
  elseif op == '+' then
    redis.call('SADD', keysCopy, k)
    sk = keysCopy
  elseif op == '-' then
    redis.call('SREM', keysCopy, k)
    sk = keysCopy
  elseif op == 'e' then
    redis.call('APPEND', s .. 'e', a)
    sk = s .. 'e'
  end
  if sk then redis.call('PEXPIRE', sk, ttl) end
end
return {'ok'}
`;

/**
 * Installs a staged commit. KEYS[1]: the session's key base. ARGV[1]: the staging's suffix;
 * ARGV[2]: the head it was planned on; ARGV[3]: the epoch then; ARGV[4]: log entries to
 * keep; ARGV[5]: the commit's nonce; ARGV[6]: the outcome key's TTL (ms); ARGV[7]: the
 * channel; ARGV[8]: trim the log below this revision ('' : no); ARGV[9]: the commit's id.
 * Each staged copy replaces its key (UNLINK frees the old value off Redis's main thread;
 * RENAME is O(1)); the new lists are already in place. Returns {'ok', id, epoch} or
 * {'conflict', why}.
 */
export const STAGE_INSTALL_LUA = `
local b = KEYS[1]
local s = b .. ARGV[1]
local epoch = redis.call('GET', b .. '_epoch') or ''
if (redis.call('GET', b .. '_head') or '0-0') ~= ARGV[2] or epoch ~= ARGV[3] then
  return {'conflict', '(revision)'}
end
if redis.call('GET', b .. '_staging') ~= ARGV[1] then return {'conflict', '(staging expired)'} end
local t = redis.call('TYPE', b .. '_log')['ok']
if t ~= 'none' and t ~= 'stream' then
  return redis.error_reply('store key ' .. b .. '_log is a ' .. t .. ', not a stream; nothing was written')
end
local id = ARGV[9]
redis.call('XADD', b .. '_log', 'MAXLEN', ARGV[4], id, 'e', redis.call('GET', s .. 'e') or '', 'n', ARGV[5], 'g', epoch)
for _, k in ipairs(redis.call('LRANGE', s .. 'i', 0, -1)) do
  local sk = s .. 'k:' .. k
  redis.call('UNLINK', b .. k)
  if redis.call('EXISTS', sk) == 1 then
    redis.call('RENAME', sk, b .. k)
    redis.call('PERSIST', b .. k)
  end
end
if ARGV[8] ~= '' then redis.call('XTRIM', b .. '_log', 'MINID', ARGV[8] .. '-0') end
redis.call('SET', b .. '_head', id)
redis.call('UNLINK', s .. 'i', s .. 'n', s .. 'e', b .. '_staging')
redis.call('SET', b .. '_o:' .. ARGV[5], id, 'PX', ARGV[6])
redis.call('PUBLISH', ARGV[7], id)
return {'ok', id, epoch}
`;

/**
 * Removes up to ARGV[2] keys of an abandoned staging (KEYS[1]: the base; ARGV[1]: the
 * staging's suffix): its copies, then the new lists it wrote under their own names — unless
 * one is in '_keys' by now (a variable of that name committed since, which cleared the
 * leftover first). Returns -1, removing nothing, while another staging holds the session's
 * claim (it may have written lists of the same names), or with ARGV[3] '1' (a sweep: its
 * host died or gave up) while any staging does. Otherwise how many are left (0: all gone,
 * and the session's claim released).
 */
export const STAGE_DISCARD_LUA = `
local b = KEYS[1]
local s = b .. ARGV[1]
local n = tonumber(ARGV[2])
-- Never beside a staging in progress: it may have written lists of the same names since.
local holder = redis.call('GET', b .. '_staging')
if holder and (ARGV[3] == '1' or holder ~= ARGV[1]) then return -1 end
local copies = redis.call('LPOP', s .. 'i', n) or {}
for _, k in ipairs(copies) do redis.call('UNLINK', s .. 'k:' .. k) end
if #copies < n then
  for _, k in ipairs(redis.call('LPOP', s .. 'n', n - #copies) or {}) do
    if redis.call('SISMEMBER', b .. '_keys', k) == 0 then redis.call('UNLINK', b .. k) end
  end
end
local left = redis.call('LLEN', s .. 'i') + redis.call('LLEN', s .. 'n')
if left == 0 then
  redis.call('UNLINK', s .. 'k:_keys', s .. 'e')
  if redis.call('GET', b .. '_staging') == ARGV[1] then redis.call('DEL', b .. '_staging') end
end
return left
`;
