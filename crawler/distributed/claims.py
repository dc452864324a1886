"""The cluster's protocol in Redis: key names, the run lock, heartbeats, claims and in-flight requests.

One *run* is one crawl shared by any number of workers. Every step that must not race is one
Lua script, which Redis runs atomically:

- `join`: a worker joins the active run when its arguments are the run's, is refused when
  another crawl (other arguments) holds the lock, and otherwise starts a new run, clearing what
  the last one left (queue, seen requests, claimed ids, totals; never the items for the writer).
- `pop`: take the next request from scrapy-redis's priority queue *and* record it in the
  worker's in-flight hash, so that a worker killed mid-flight loses nothing: `reap` puts the
  in-flight requests of workers whose heartbeat expired back into the queue.
- `reap` with `check`: the run is finished when the queue is empty, no worker is starting and
  no live worker holds a request; the first idle worker to see that marks it and frees the lock.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass

from crawler import settings as defaults

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Keys:
    """Every Redis key of one archive's cluster, under one prefix (`DW_REDIS_PREFIX`)."""

    prefix: str = defaults.DW_REDIS_PREFIX

    def __getattr__(self, name: str) -> str:  # only for the names listed in KEY_NAMES
        if name in KEY_NAMES:
            return f"{self.prefix}:{KEY_NAMES[name]}"
        raise AttributeError(name)

    def heartbeat(self, worker: str) -> str:
        return f"{self.prefix}:hb:{worker}"

    def inflight(self, worker: str) -> str:
        return f"{self.prefix}:inflight:{worker}"

    def article(self, article_id: int) -> str:
        return f"{self.prefix}:a:{article_id}"

    def recent(self, language: str) -> str:
        return f"{self.prefix}:recent:{language}"


KEY_NAMES = {
    "queue": "requests",        # scrapy-redis's priority queue (sorted set of pickled requests)
    "seen": "seen",             # scrapy-redis's duplicate filter, for this run's discovery requests
    "claims": "claims",         # content ids, short codes, listing URLs scheduled in this run
    "run": "run",               # hash: id, state (active/finished), arguments, started_at, ready, ...
    "lock": "lock",             # the run's id while a worker's heartbeat keeps it alive
    "workers": "workers",       # set of the run's worker ids
    "starting": "starting",     # workers not yet idle once (their start() may still add requests)
    "totals": "totals",         # hash: the run's dw/* stats summed over its workers
    "items": "items",           # list of JSON items for the writer
    "writing": "items:writing", # the batch the writer holds (re-read if the writer dies)
    "writer": "writer",         # the writer's id while it runs (with a TTL)
    "writer_error": "writer:error",  # why the writer stopped, when the archive could not be written
    "state": "state",           # hash: ready, seeded_at, articles (the writer's state in Redis)
    "gone": "gone",             # hash: id -> checked_at of the archive's gone_articles (the writer's)
}  # fmt: skip

_JOIN = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'active' then
  local args = redis.call('HGET', KEYS[1], 'arguments')
  local run = redis.call('HGET', KEYS[1], 'id')
  if args == ARGV[2] then
    redis.call('SET', KEYS[2], run, 'PX', ARGV[4])
    redis.call('SADD', KEYS[6], ARGV[5])
    redis.call('SADD', KEYS[7], ARGV[5])
    redis.call('SET', ARGV[6] .. 'hb:' .. ARGV[5], run, 'PX', ARGV[4])
    return {'joined', run}
  elseif redis.call('EXISTS', KEYS[2]) == 1 then
    return {'locked', run, args}
  end
end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[8])
for _, w in ipairs(redis.call('SMEMBERS', KEYS[6])) do
  redis.call('DEL', ARGV[6] .. 'inflight:' .. w)
end
redis.call('DEL', KEYS[1], KEYS[6], KEYS[7])
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'state', 'active', 'arguments', ARGV[2],
           'started_at', ARGV[3], 'ready', 0)
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4])
redis.call('SADD', KEYS[6], ARGV[5])
redis.call('SADD', KEYS[7], ARGV[5])
redis.call('SET', ARGV[6] .. 'hb:' .. ARGV[5], ARGV[1], 'PX', ARGV[4])
return {'started', ARGV[1]}
"""

_POP = """
local r = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #r == 0 then return false end
redis.call('ZREM', KEYS[1], r[1])
redis.call('HSET', KEYS[2], ARGV[1], r[2] .. '|' .. r[1])
return r[1]
"""

_TICK = """
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'state') ~= 'active' then
  return 0
end
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[4], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"""

# Requeue the in-flight requests of one worker (ARGV[2]) or of every worker whose heartbeat is
# gone; with ARGV[4] == 'check', also finish the run if nothing is left to do anywhere.
_REAP = """
local function requeue(w)
  local inflight = ARGV[1] .. 'inflight:' .. w
  local n = 0
  for _, v in ipairs(redis.call('HVALS', inflight)) do
    local bar = string.find(v, '|', 1, true)
    redis.call('ZADD', KEYS[3], string.sub(v, 1, bar - 1), string.sub(v, bar + 1))
    n = n + 1
  end
  redis.call('DEL', inflight)
  return n
end
if ARGV[5] ~= '' then
  local n = requeue(ARGV[5])
  redis.call('SREM', KEYS[4], ARGV[5])
  redis.call('SREM', KEYS[5], ARGV[5])
  redis.call('DEL', ARGV[1] .. 'hb:' .. ARGV[5])
  return {'left', n}
end
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[2] or redis.call('HGET', KEYS[1], 'state') ~= 'active' then
  return {'over', 0}
end
local requeued = 0
for _, w in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  if redis.call('EXISTS', ARGV[1] .. 'hb:' .. w) == 0 then
    requeued = requeued + requeue(w)
    redis.call('SREM', KEYS[4], w)
    redis.call('SREM', KEYS[5], w)
    redis.call('HINCRBY', KEYS[1], 'workers_lost', 1)
  end
end
if requeued > 0 then redis.call('HINCRBY', KEYS[1], 'requeued', requeued) end
if ARGV[4] ~= 'check' then return {'active', requeued} end
if ARGV[6] ~= '' then redis.call('SREM', KEYS[5], ARGV[6]) end
if redis.call('ZCARD', KEYS[3]) > 0 or redis.call('SCARD', KEYS[5]) > 0 then
  return {'busy', requeued}
end
for _, w in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  if redis.call('HLEN', ARGV[1] .. 'inflight:' .. w) > 0 then return {'busy', requeued} end
end
redis.call('HSET', KEYS[1], 'state', 'finished', 'finished_at', ARGV[3])
redis.call('DEL', KEYS[2], KEYS[6], KEYS[7])
return {'finished', requeued}
"""


def new_worker_id() -> str:
    """`host:pid:random`, unique across machines and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Cluster:
    """One process's view of the cluster: its worker id, the run it is in, and the scripts.

    `server` is a `redis.Redis` client (bytes responses). `ttl` is how long, in seconds, a
    heartbeat lasts: a worker silent that long is taken for dead and its requests re-queued.
    """

    def __init__(self, server, keys: Keys, ttl: float = defaults.DW_HEARTBEAT_TTL, worker: str | None = None):
        self.server = server
        self.keys = keys
        self.ttl_ms = int(ttl * 1000)
        self.worker = worker or new_worker_id()
        self.run: str | None = None
        self._join = server.register_script(_JOIN)
        self._pop = server.register_script(_POP)
        self._tick = server.register_script(_TICK)
        self._reap = server.register_script(_REAP)

    def join(self, arguments: str, now: str) -> tuple[str, str, str | None]:
        """(`started`/`joined`/`locked`, run id, the running crawl's arguments when locked)."""
        k = self.keys
        reply = self._join(
            keys=[k.run, k.lock, k.queue, k.seen, k.claims, k.workers, k.starting, k.totals],
            args=[uuid.uuid4().hex[:12], arguments, now, self.ttl_ms, self.worker, k.prefix + ":"])
        verdict, run = _text(reply[0]), _text(reply[1])
        if verdict != "locked":
            self.run = run
        return verdict, run, _text(reply[2]) if len(reply) > 2 else None

    def pop(self, token: str) -> bytes | None:
        """The next queued request's data, now recorded as this worker's, or None."""
        return self._pop(keys=[self.keys.queue, self.keys.inflight(self.worker)], args=[token])

    def tick(self) -> bool:
        """Renew this worker's heartbeat and the run's lock; False once the run is over."""
        k = self.keys
        return bool(self._tick(keys=[k.run, k.lock, k.heartbeat(self.worker), k.workers],
                               args=[self.run or "", self.ttl_ms, self.worker]))

    def reap(self, *, check: bool = False, now: str = "", leaving: bool = False) -> tuple[str, int]:
        """Re-queue dead workers' requests; with `check`, finish the run when all is done.

        Returns (`active`/`busy`/`finished`/`over`/`left`, requests re-queued).
        """
        k = self.keys
        reply = self._reap(
            keys=[k.run, k.lock, k.queue, k.workers, k.starting, k.seen, k.claims],
            args=[k.prefix + ":", self.run or "", now, "check" if check else "",
                  self.worker if leaving else "", self.worker if check else ""])
        return _text(reply[0]), int(reply[1])

    def claim(self, key: int | str) -> bool:
        """True when this call is the first in the run to schedule `key` (`state.claim_key`)."""
        return bool(self.server.sadd(self.keys.claims, key))

    def live_workers(self) -> int:
        """Workers of the run whose heartbeat has not expired."""
        workers = [_text(w) for w in self.server.smembers(self.keys.workers)]
        if not workers:
            return 0
        return int(self.server.exists(*[self.keys.heartbeat(w) for w in workers]))

    def run_info(self) -> dict[str, str]:
        """The run's hash, decoded."""
        return {_text(k): _text(v) for k, v in self.server.hgetall(self.keys.run).items()}

    def totals(self) -> dict[str, int]:
        """The run's `dw/*` stats summed over every worker that reported them."""
        return {_text(k): int(v) for k, v in self.server.hgetall(self.keys.totals).items()}
