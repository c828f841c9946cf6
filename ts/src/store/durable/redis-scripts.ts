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
