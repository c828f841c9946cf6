// The Lua the Redis backend runs. Redis runs a script atomically, so a commit — check every
// stamp, write, take the next log position, append to the log stream — is all or nothing,
// and no other host's commit can slip between its check and its write.
// KEYS[1] is the key prefix; the request layout is durable/layout.ts's CommitRequest.

/**
 * ARGV[1]: the request as JSON; ARGV[2]: log entries to keep; ARGV[3]: the commit's nonce;
 * ARGV[4]: the epoch the host loaded; ARGV[5]: how many ms the nonce's outcome key 'o:<nonce>'
 * (the commit's log id) is kept, for a host whose connection broke mid-commit. Returns {'ok', id}, {'conflict', field} (a stamp moved,
 * or the epoch: re-plan) or {'present', key} (a key that had to be absent exists).
 */
export const COMMIT_LUA = `
local p = KEYS[1]
-- A host that loaded another history (Redis has lost its data since) must reload before it commits.
if redis.call('GET', p .. 'epoch') ~= ARGV[4] then return {'conflict', '(epoch)'} end
local req = cjson.decode(ARGV[1])
for _, c in ipairs(req.checks) do
  if c.absentKey then
    if redis.call('EXISTS', p .. c.absentKey) == 1 then return {'present', c.absentKey} end
  else
    local cur = redis.call('HGET', p .. c.key, c.field)
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
local bad = mustBe(p .. 'log', 'stream') or mustBe(p .. 's', 'hash')
for _, o in ipairs(req.ops) do
  if bad then break end
  if o.op == 'hset' or o.op == 'hdel' or o.op == 'stamp' then bad = mustBe(p .. o.key, 'hash')
  elseif o.op == 'push' or o.op == 'ltrim' then bad = mustBe(p .. o.key, 'list')
  elseif o.op == 'drop' then bad = mustBe(p .. 'v:' .. string.len(o.sid) .. ':' .. o.sid, 'hash') end
end
if bad then return bad end
local head = redis.call('GET', p .. 'head') or '0-0'
local dash = string.find(head, '-', 1, true)
local rev = tonumber(string.sub(head, 1, dash - 1))
local seq = tonumber(string.sub(head, dash + 1))
if req.commit then rev = rev + 1; seq = 0 else seq = seq + 1 end
local r = string.format('%d', rev)
local id = r .. '-' .. string.format('%d', seq)
-- First, as it can still fail (an id at or below the stream's last one: a head key out of step).
redis.call('XADD', p .. 'log', 'MAXLEN', ARGV[2], id, 'e', req.entry, 'n', ARGV[3], 'g', ARGV[4])
for _, o in ipairs(req.ops) do
  local op = o.op
  if op == 'hset' then
    local v = o.value
    if o.stamped then v = r .. '|' .. v end
    redis.call('HSET', p .. o.key, o.field, v)
  elseif op == 'hdel' then
    redis.call('HDEL', p .. o.key, o.field)
  elseif op == 'push' then
    redis.call('RPUSH', p .. o.key, r .. '|' .. o.value)
    redis.call('LTRIM', p .. o.key, -o.keep, -1)
  elseif op == 'ltrim' then
    redis.call('LTRIM', p .. o.key, -o.keep, -1)
  elseif op == 'del' then
    redis.call('DEL', p .. o.key)
  elseif op == 'stamp' then
    redis.call('HSET', p .. o.key, o.field, id)
  elseif op == 'alive' then
    redis.call('SET', p .. o.key, '1', 'PX', o.ttlMs)
  elseif op == 'drop' then
    local sk = string.len(o.sid) .. ':' .. o.sid
    for _, n in ipairs(redis.call('HKEYS', p .. 'v:' .. sk)) do redis.call('DEL', p .. 'h:' .. sk .. ':' .. n) end
    for _, n in ipairs(redis.call('HKEYS', p .. 'r:' .. sk)) do redis.call('DEL', p .. 'rt:' .. sk .. ':' .. n) end
    redis.call('DEL', p .. 'v:' .. sk, p .. 'd:' .. sk, p .. 'c:' .. sk, p .. 't:' .. sk, p .. 'a:' .. sk, p .. 'r:' .. sk, p .. 'p:' .. sk)
    redis.call('HDEL', p .. 's', o.sid)
  end
end
-- The watch log's byte limit: entries of revisions up to trimLog go (XTRIM MINID keeps ids >= the one given).
if req.trimLog then redis.call('XTRIM', p .. 'log', 'MINID', string.format('%d', req.trimLog + 1) .. '-0') end
redis.call('SET', p .. 'head', id)
redis.call('SET', p .. 'o:' .. ARGV[3], id, 'PX', ARGV[5])
return {'ok', id}
`;

/**
 * The whole state in one atomic read: {head, epoch, {key, 'h', field, value, ...}..., {key, 'l', item, ...}...}.
 * ARGV[1] becomes the epoch when there is none (a new store, or Redis lost its data): it
 * names this history, so that a host can tell a new one from the continuation of its own.
 * ARGV[2] is the key layout this host writes (recorded in a new store): a store of a newer
 * layout answers {'newer-layout', layout} and is left untouched.
 * Blocks Redis for as long as it takes, once per host start or resync.
 */
export const SNAPSHOT_LUA = `
local p = KEYS[1]
local layout = tonumber(redis.call('GET', p .. 'layout') or '0')
if layout > tonumber(ARGV[2]) then return { 'newer-layout', tostring(layout) } end
if layout == 0 then redis.call('SET', p .. 'layout', ARGV[2]) end
local epoch = redis.call('GET', p .. 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', p .. 'epoch', epoch)
end
local out = { redis.call('GET', p .. 'head') or '0-0', epoch }
local function hash(key)
  local flat = redis.call('HGETALL', p .. key)
  local item = { key, 'h' }
  for _, v in ipairs(flat) do item[#item + 1] = v end
  out[#out + 1] = item
  return flat
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
  for j = 1, #vars, 2 do
    local key = 'h:' .. sk .. ':' .. vars[j]
    local item = { key, 'l' }
    for _, v in ipairs(redis.call('LRANGE', p .. key, 0, -1)) do item[#item + 1] = v end
    out[#out + 1] = item
  end
  local runs = hash('r:' .. sk)
  for j = 1, #runs, 2 do
    local key = 'rt:' .. sk .. ':' .. runs[j]
    local item = { key, 'l' }
    for _, v in ipairs(redis.call('LRANGE', p .. key, 0, -1)) do item[#item + 1] = v end
    out[#out + 1] = item
  end
end
return out
`;
