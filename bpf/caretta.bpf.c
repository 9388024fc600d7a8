// SPDX-License-Identifier: GPL-2.0
/*
 * Connection tracer. Zero work per packet, and almost none per connection: the
 * only hook is TCP state changes, and of those only TCP_CLOSE does real work.
 *
 * - tp_btf/inet_sock_set_state at TCP_CLOSE: one final record per socket to a ring
 *   buffer, read straight from the socket (tuple, the kernel's own byte counters,
 *   cgroup). No per-socket state is needed for that: the role is inherited from the
 *   listener (sk_max_ack_backlog), the SYN's sequence number is a constant.
 * - Live sockets are listed once per poll by an iterator that reads the same kernel
 *   counters (bytes_acked, bytes_received, total_retrans). Those counters are exact
 *   for every syscall that moves data (send, write, writev, sendmsg, sendfile,
 *   splice, io_uring...), so no send/recv hook is needed.
 *     - iter/task_file (default): walks every process's open files and finds the
 *       TCP sockets among them. Socket storage is attached only to sockets that live
 *       across a poll, never in the connection's hot path.
 *     - iter/bpf_sk_storage_map (track_from_open=1, when the agent cannot see every
 *       process, i.e. outside the host's PID namespace): storage is attached at
 *       ESTABLISHED and the iterator walks the storage map.
 * Socket storage holds the baselines and the counters last reported, so the final
 * record of a listed socket carries the totals user space needs to finish it.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "caretta_types.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

/* Load-time configuration, set by user space before load. */
const volatile __u32 self_tgid = 0;  /* the agent: its own sockets are skipped */
const volatile __u32 self_netns = 0; /* the agent's netns ... */
const volatile __u16 self_port = 0;  /* ... and HTTP port: its scrapes are skipped */
const volatile __u32 max_connections = 65536;
const volatile __u8 track_loopback = 0;
const volatile __u8 track_from_open = 0;           /* see the header comment */
const volatile __u64 ring_wakeup_bytes = 1 << 18; /* a quarter of the ring */

/* Set by user space: fold clients' closes into the close cache too. Off while some
 * client connections need their own port afterwards (Service NAT is undone through
 * conntrack by the full tuple). */
__u8 aggregate_client_closes = 0;

/* Set by user space before it reads an iterator. */
__u8 full_dump = 0; /* list every socket, not only those whose counters moved */
__u8 adopting = 0;  /* the start-up pass: sockets found now count from now on */
__u32 poll_gen = 0; /* one listing per socket per poll (several fds may share one) */

/* Sockets with storage, bounded by max_connections (socket storage has no max_entries). */
__u64 tracked_sockets = 0;
/* Listeners with a backlog of 0 pass none on to their accepted sockets (see role_of). */
__u64 zero_backlog_listeners = 0;

struct sock_info {
  __u64 cookie;
  __u64 base_acked; /* counters when tracking began: bytes before are not ours */
  __u64 base_received;
  __u64 last_acked; /* counters last reported by the iterator */
  __u64 last_received;
  __u64 reported_sent; /* data bytes user space was told of (SYN, FIN out) */
  __u64 reported_received;
  __u64 owner; /* enum owner: who speaks for this socket to user space (64 bits: atomics) */
  __u32 base_retrans;
  __u32 last_retrans;
  __u32 pid;
  __u32 seen_gen; /* poll_gen of the last listing */
  __u8 role;
  __u8 closed; /* final record sent; the storage itself goes with the socket */
  __u8 reported;
  __u8 self;        /* the agent's own connection: never reported */
  __u8 reconnected; /* connect() again after a failed one: closed storage is reused */
};

struct {
  __uint(type, BPF_MAP_TYPE_SK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct sock_info);
} sockets SEC(".maps");

/* Size set from configuration by user space before load. */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} closed_events SEC(".maps");

/*
 * The iterator and the close hook may meet on one socket from two CPUs. Whichever
 * claims it first decides: once listed, user space knows the cookie and the close
 * record must carry it; once closing, the iterator leaves it alone and the close
 * folds into the close cache like any socket user space never heard of.
 */
enum owner {
  OWNER_NONE = 0,
  OWNER_LISTED = 1,
  OWNER_CLOSING = 2,
};

static __always_inline bool claim(struct sock_info *info, __u64 as) {
  /* The owner leaves OWNER_NONE once: after that, a plain read decides (every poll
   * lists each tracked socket, so the locked compare-and-swap is for the first). */
  __u64 cur = *(volatile __u64 *)&info->owner;
  if (cur != OWNER_NONE) return cur == as;
  __u64 prev = __sync_val_compare_and_swap(&info->owner, OWNER_NONE, as);
  return prev == OWNER_NONE || prev == as;
}

/* Listening ports with a backlog of 0, per namespace (normally empty). */
struct listen_key {
  __u32 netns;
  __u16 port;
  __u16 pad;
};
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, struct listen_key);
  __type(value, __u8);
} listen_ports SEC(".maps");

/* One struct caretta_close_cache per CPU (max_entries set to the CPU count by user
 * space), mapped into user space. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct caretta_close_cache);
} close_cache SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, CARETTA_CNT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

/* Atomic although per CPU: another run on the same CPU between this run's load
 * and store (a softirq's closes while a task's close is in the hook) would be
 * overwritten by a plain `+=`, a whole batch of counts at once. Measured on 6.18
 * with a 12,000-socket close burst: with `+=`, 99 to 488 closes missing from
 * `closed` and `drop_ringbuf` in 3 runs of 12, with no skipped run reported;
 * atomic, none in 18. */
static __always_inline void count_n(__u32 which, __u64 n) {
  __u64 *value = bpf_map_lookup_elem(&counters, &which);
  if (value) __sync_fetch_and_add(value, n);
}

static __always_inline void count(__u32 which) { count_n(which, 1); }

/* Sockets the walk found no room for (table full, or storage allocation failed),
 * by cookie: each is counted once, not at every walk that meets it again. The
 * value is the poll_gen of the last walk that met it; user space deletes the
 * entries a walk did not refresh (the socket closed, or got room). Sized by user
 * space (at least 64 Ki); memory only for entries in use. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, __u32);
} untracked SEC(".maps");

/* A socket's storage, if any: most sockets have none, and then no helper is called. */
static __always_inline struct sock_info *storage_of(struct sock *sk) {
  return sk->sk_bpf_storage ? bpf_sk_storage_get(&sockets, sk, NULL, 0) : NULL;
}

static __always_inline void count_opened(__u8 role) {
  count(role == CARETTA_ROLE_CLIENT ? CARETTA_CNT_OPENED_CLIENT : CARETTA_CNT_OPENED_SERVER);
}

/* Field reads below are direct loads through BTF pointers (CO-RE relocated by
 * vmlinux.h's preserve_access_index), not bpf_probe_read calls: this hook runs on
 * every TCP state change, so each helper call saved matters. */

static __always_inline bool is_loopback(const struct sock *sk, __u16 family) {
  if (family == AF_INET) {
    __u32 daddr = sk->__sk_common.skc_daddr;
    return (daddr & 0xff) == 127; /* network order: first octet in the low byte */
  }
  __u32 w0 = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[0];
  __u32 w1 = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[1];
  __u32 w2 = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[2];
  __u32 w3 = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[3];
  if (w0 == 0 && w1 == 0 && w2 == 0 && w3 == bpf_htonl(1)) return true; /* ::1 */
  return w0 == 0 && w1 == 0 && w2 == bpf_htonl(0xffff) && (w3 & 0xff) == 127;
}

static __always_inline __u32 netns_of(const struct sock *sk) {
  return sk->__sk_common.skc_net.net->ns.inum;
}

static __always_inline __u64 cgroup_of(const struct sock *sk) {
  return sk->sk_cgrp_data.cgroup->kn->id;
}

/* The local port from inet_sport: at TCP_CLOSE the kernel has already released
 * inet_num (it reads 0), inet_sport stays. */
static __always_inline __u16 local_port(const struct tcp_sock *tp) {
  return bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
}

static __always_inline bool fin_received(const struct sock *sk) {
  /* tcp_fin() sets SOCK_DONE when the peer's FIN is processed in order. */
  return sk->__sk_common.skc_flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE));
}

/* A FIN was queued: the socket is (or was, for `oldstate` at close) past close()
 * or shutdown(SHUT_WR). Derived from the state so that no hook on these
 * transitions is needed. */
static __always_inline bool fin_sent_in(int state) {
  return state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 || state == TCP_CLOSING ||
         state == TCP_LAST_ACK || state == TCP_TIME_WAIT;
}

/* Our FIN is out and acked: it takes one sequence number, so bytes_acked includes it. */
static __always_inline bool fin_acked_in(const struct tcp_sock *tp, int state) {
  return fin_sent_in(state) && tp->snd_una == tp->write_seq;
}

static __always_inline bool is_self_scrape(__u32 netns, __u16 lport) {
  return self_port && lport == self_port && netns == self_netns;
}

/* Loopback (unless tracked) and scrapes of the agent's own port never become links:
 * returns the counter that says why, 0 for a socket that is mapped. */
static __always_inline __u32 not_mapped(const struct sock *sk, __u16 family, __u32 netns,
                                        __u16 lport) {
  if (!track_loopback && is_loopback(sk, family)) return CARETTA_CNT_LOOPBACK;
  if (is_self_scrape(netns, lport)) return CARETTA_CNT_SELF;
  return 0;
}

/*
 * Client or server, with no state kept per socket: an accepted socket is a clone of
 * its listener and inherits its sk_max_ack_backlog (> 0 for any listen(fd, n > 0)),
 * a connecting socket never listened and has 0. Listeners with a backlog of 0 are
 * remembered by port (normally none, and then nothing is looked up).
 */
static __always_inline __u8 role_of(const struct sock *sk, __u32 netns, __u16 lport) {
  if (sk->sk_max_ack_backlog) return CARETTA_ROLE_SERVER;
  if (zero_backlog_listeners) {
    struct listen_key key = {.netns = netns, .port = lport};
    if (bpf_map_lookup_elem(&listen_ports, &key)) return CARETTA_ROLE_SERVER;
  }
  return CARETTA_ROLE_CLIENT;
}

/* A listener's port is inet_num while it listens. A listen() without bind() picks
 * its port only after the state change (0 then): the next task walk remembers it. */
static __always_inline void remember_zero_backlog_listener(const struct sock *sk) {
  if (sk->sk_max_ack_backlog || !sk->__sk_common.skc_num) return;
  struct listen_key key = {.netns = netns_of(sk), .port = sk->__sk_common.skc_num};
  __u8 one = 1;
  if (bpf_map_update_elem(&listen_ports, &key, &one, BPF_NOEXIST) == 0)
    __sync_fetch_and_add(&zero_backlog_listeners, 1);
}

/* At its close: inet_num already reads 0 there, the port is from inet_sport. */
static __always_inline void forget_zero_backlog_listener(const struct sock *sk,
                                                         const struct tcp_sock *tp) {
  struct listen_key key = {.netns = netns_of(sk), .port = local_port(tp)};
  if (bpf_map_delete_elem(&listen_ports, &key) == 0)
    __sync_fetch_and_add(&zero_backlog_listeners, -1);
}

/* Baselines of a socket nobody tracked since it opened: a client's bytes_acked
 * counts its SYN once the connection is established; nothing else is counted
 * before the first data byte. */
static __always_inline __u64 syn_baseline(__u8 role) { return role == CARETTA_ROLE_CLIENT ? 1 : 0; }

static __always_inline void fill_tuple(struct caretta_conn *rec, const struct sock *sk,
                                       __u16 family, __u16 lport) {
  rec->family = family;
  rec->lport = lport;
  rec->rport = bpf_ntohs(sk->__sk_common.skc_dport);
  if (family == AF_INET) {
    __u32 l = sk->__sk_common.skc_rcv_saddr;
    __u32 r = sk->__sk_common.skc_daddr;
    __builtin_memcpy(rec->laddr, &l, 4);
    __builtin_memcpy(rec->raddr, &r, 4);
  } else {
    __builtin_memcpy(rec->laddr, sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8, 16);
    __builtin_memcpy(rec->raddr, sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8, 16);
  }
}

/* now - base, never below 0 (a baseline cannot exceed the counter, but a wrong
 * guess must not wrap to 2^64). */
static __always_inline __u64 since(__u64 now, __u64 base) { return now > base ? now - base : 0; }

/* Where a socket's counters start for us: where tracking began, or for a socket
 * nobody tracked, its open (the SYN). */
struct baselines {
  __u64 acked;
  __u64 received;
  __u32 retrans;
};

static __always_inline struct baselines baselines_of(const struct sock_info *info, __u8 role) {
  struct baselines b = {.acked = syn_baseline(role)};
  if (info) {
    b.acked = info->base_acked;
    b.received = info->base_received;
    b.retrans = info->base_retrans;
  }
  return b;
}

/* Counters since the baselines, with the FIN accounting user space needs; `state`
 * is the socket's (or, at close, its previous) state. */
static __always_inline void fill_counters(struct caretta_conn *rec, const struct sock *sk,
                                          const struct tcp_sock *tp, struct baselines base,
                                          int state) {
  rec->bytes_acked = since(tp->bytes_acked, base.acked);
  rec->bytes_received = since(tp->bytes_received, base.received);
  rec->retransmits = since(tp->total_retrans, base.retrans);
  rec->fin_acked = fin_acked_in(tp, state);
  rec->fin_received = fin_received(sk);
}

/* Returns NULL when the socket cannot be tracked, with *why_not set to the drop
 * counter that says why; the caller counts it (the task walk once per socket). */
static __always_inline struct sock_info *start_tracking(struct sock *sk,
                                                        const struct tcp_sock *tp, __u8 role,
                                                        bool from_now, __u32 *why_not) {
  if (tracked_sockets >= max_connections) {
    *why_not = CARETTA_CNT_DROP_TABLE_FULL;
    return NULL;
  }
  struct sock_info *info = bpf_sk_storage_get(&sockets, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
  if (!info) {
    *why_not = CARETTA_CNT_DROP_STORAGE;
    return NULL;
  }
  __builtin_memset(info, 0, sizeof(*info)); /* a socket connecting again */
  __sync_fetch_and_add(&tracked_sockets, 1);
  info->cookie = bpf_get_socket_cookie(sk);
  info->role = role;
  if (from_now) {
    /* A FIN already counted stays in the counters: the baselines leave it out, so
     * that taking it out again at close is right. */
    const struct sock *s = (const struct sock *)tp;
    __u64 acked = tp->bytes_acked, received = tp->bytes_received;
    bool fin_out = fin_acked_in(tp, s->__sk_common.skc_state);
    info->base_acked = fin_out && acked ? acked - 1 : acked;
    info->base_received = fin_received(s) && received ? received - 1 : received;
    info->base_retrans = tp->total_retrans;
  } else {
    info->base_acked = syn_baseline(role);
  }
  return info;
}

/* The storage is not deleted here: the kernel frees it with the socket, and
 * deleting costs more than the whole rest of this hook. */
static __always_inline void stop_tracking(struct sock_info *info) {
  info->closed = 1;
  __sync_fetch_and_add(&tracked_sockets, -1);
}

/* The agent's own connections: marked at connect (the only moment the connecting
 * process is current), so their close is recognised. Rare: storage cost is fine. */
static __always_inline int on_connect(struct sock *sk) {
  /* A socket connecting again after a failed connect: its old, closed storage may
   * be tracked afresh. Anywhere else, closed storage stays closed. */
  struct sock_info *old = storage_of(sk);
  if (old && old->closed) old->reconnected = 1;
  if (!self_tgid || (bpf_get_current_pid_tgid() >> 32) != self_tgid) return 0;
  struct sock_info *info = bpf_sk_storage_get(&sockets, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
  if (!info) return 0;
  __builtin_memset(info, 0, sizeof(*info));
  info->self = 1;
  count(CARETTA_CNT_SELF);
  return 0;
}

/* track_from_open only: attach storage as the connection opens. */
static __always_inline int on_established(struct sock *sk, int oldstate) {
  if (oldstate != TCP_SYN_SENT && oldstate != TCP_SYN_RECV) return 0;
  if (sk->sk_protocol != IPPROTO_TCP) return 0;
  __u16 family = sk->__sk_common.skc_family;
  if (family != AF_INET && family != AF_INET6) return 0;
  struct sock_info *info = storage_of(sk);
  if (info && (!info->closed || !info->reconnected)) return 0; /* the agent's own, or done */
  struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
  if (!tp) return 0;
  if (not_mapped(sk, family, netns_of(sk), local_port(tp))) return 0;
  __u8 role = oldstate == TCP_SYN_SENT ? CARETTA_ROLE_CLIENT : CARETTA_ROLE_SERVER;
  __u32 why_not = 0;
  if (start_tracking(sk, tp, role, true, &why_not))
    count_opened(role);
  else
    count(why_not); /* once: a socket gets here once */
  return 0;
}

/* A close record that does not fit the ring: user space will find the socket
 * gone at its next complete listing and close it, but the bytes since it was last
 * listed are only here. Count them. */
static __always_inline void count_lost_bytes(struct sock *sk, const struct tcp_sock *tp,
                                             const struct sock_info *info, __u8 role,
                                             int oldstate) {
  struct baselines base = baselines_of(info, role);
  __u64 sent = since(tp->bytes_acked, base.acked + fin_acked_in(tp, oldstate));
  __u64 received = since(tp->bytes_received, base.received + (fin_received(sk) ? 1 : 0));
  if (info) {
    sent = since(sent, info->reported_sent);
    received = since(received, info->reported_received);
  }
  if (sent) count_n(CARETTA_CNT_LOST_SENT_BYTES, sent);
  if (received) count_n(CARETTA_CNT_LOST_RECEIVED_BYTES, received);
}

static __always_inline void emit(struct sock *sk, const struct tcp_sock *tp,
                                 const struct sock_info *info, __u8 role, __u8 kind,
                                 __u16 family, __u32 netns, __u16 lport, int oldstate) {
  struct caretta_conn *rec = bpf_ringbuf_reserve(&closed_events, sizeof(*rec), 0);
  if (!rec) {
    count(CARETTA_CNT_DROP_RINGBUF);
    if (kind == CARETTA_RECORD_CLOSED) count_lost_bytes(sk, tp, info, role, oldstate);
    return;
  }
  __builtin_memset(rec, 0, sizeof(*rec));
  rec->cgroup_id = cgroup_of(sk);
  rec->role = role;
  rec->kind = kind;
  rec->netns = netns;
  rec->state = oldstate;
  fill_tuple(rec, sk, family, lport);
  if (info) {
    rec->cookie = info->cookie;
    rec->pid = info->pid;
  }
  if (kind == CARETTA_RECORD_CLOSED) fill_counters(rec, sk, tp, baselines_of(info, role), oldstate);
  /* Wake the reader only when the buffer fills up; it also drains on a short timer. */
  __u64 avail = bpf_ringbuf_query(&closed_events, BPF_RB_AVAIL_DATA);
  bpf_ringbuf_submit(rec, avail > ring_wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

#define COMPILER_BARRIER() asm volatile("" ::: "memory")

/* Hands a slot's totals to user space before the slot takes another key. */
static __always_inline bool flush_slot(const struct caretta_close_slot *slot, __u32 cpu,
                                       __u32 index) {
  struct caretta_slot_flush *rec = bpf_ringbuf_reserve(&closed_events, sizeof(*rec), 0);
  if (!rec) return false; /* the slot stays as it is; the close goes to emit() */
  rec->magic = CARETTA_SLOT_FLUSH_MAGIC;
  rec->cpu = cpu;
  rec->index = index;
  rec->pad = 0;
  __builtin_memcpy(&rec->slot, slot, sizeof(*slot));
  bpf_ringbuf_submit(rec, BPF_RB_NO_WAKEUP);
  return true;
}

/*
 * Folds one close into this CPU's close cache (see caretta_types.h). Hand-written
 * because no BPF map does this: a hash map costs a keyed lookup plus a record per
 * connection, where this costs a multiply and a few stores to a cache-hot line.
 * Returns false when the close must go to the ring buffer instead.
 */
static __always_inline bool aggregate_close(struct sock *sk, const struct tcp_sock *tp,
                                            const struct sock_info *info, __u8 role, bool failed,
                                            __u16 family, __u32 netns, __u16 lport,
                                            int oldstate) {
  struct caretta_close_key key;
  __builtin_memset(&key, 0, sizeof(key));
  key.netns = netns;
  key.role = role;
  key.server_port = role == CARETTA_ROLE_SERVER ? lport : bpf_ntohs(sk->__sk_common.skc_dport);
  key.flags = (failed ? CARETTA_CLOSE_FAILED : 0) | (family == AF_INET6 ? CARETTA_CLOSE_IPV6 : 0);
  key.cgroup_id = cgroup_of(sk);
  __u64 mix;
  if (family == AF_INET) {
    __u32 l = sk->__sk_common.skc_rcv_saddr;
    __u32 r = sk->__sk_common.skc_daddr;
    __builtin_memcpy(key.laddr, &l, 4);
    __builtin_memcpy(key.raddr, &r, 4);
    mix = ((__u64)l << 32) | r;
  } else {
    __builtin_memcpy(key.laddr, sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8, 16);
    __builtin_memcpy(key.raddr, sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8, 16);
    mix = ((__u64)sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[3] << 32) |
          sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[3];
  }
  mix ^= ((__u64)netns << 24) ^ ((__u64)key.server_port << 8) ^ ((__u64)role << 4) ^ key.flags ^
         key.cgroup_id;
  __u32 index = ((mix * 0x9E3779B97F4A7C15ull) >> 32) & (CARETTA_CLOSE_SLOTS - 1);
  __u32 cpu = bpf_get_smp_processor_id();
  struct caretta_close_cache *cache = bpf_map_lookup_elem(&close_cache, &cpu);
  if (!cache || cache->busy) return false;
  cache->busy = 1;
  COMPILER_BARRIER();
  struct caretta_close_slot *slot = &cache->slot[index];
  const __u64 *a = (const __u64 *)&slot->key, *b = (const __u64 *)&key;
  bool same = slot->gen && a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] &&
              a[4] == b[4] && a[5] == b[5];
  if (!same && slot->gen && !flush_slot(slot, cpu, index)) {
    COMPILER_BARRIER();
    cache->busy = 0;
    return false;
  }

  __u32 seq = slot->end + 1;
  slot->end = seq;
  COMPILER_BARRIER();
  if (!same) {
    slot->key = key;
    slot->gen = slot->gen + 1 ? slot->gen + 1 : 1;
    slot->sent = 0;
    slot->received = 0;
    slot->sockets = 0;
    slot->retransmits = 0;
  }
  if (!failed) {
    /* Never listed: counters from the baselines on (the SYN, or where tracking
     * began); the FIN is taken out here. */
    struct baselines base = baselines_of(info, role);
    slot->sent += since(tp->bytes_acked, base.acked + fin_acked_in(tp, oldstate));
    slot->received += since(tp->bytes_received, base.received + (fin_received(sk) ? 1 : 0));
    slot->retransmits += since(tp->total_retrans, base.retrans);
  }
  slot->sockets += 1;
  COMPILER_BARRIER();
  slot->begin = seq;
  COMPILER_BARRIER();
  cache->busy = 0;
  count(CARETTA_CNT_AGGREGATED);
  return true;
}

static __always_inline int on_close(struct sock *sk, int oldstate) {
  if (oldstate == TCP_LISTEN) {
    /* Whatever its backlog now: listen() again on a listener changes only the
     * backlog, no state, so one remembered at backlog 0 may have a larger one. */
    if (zero_backlog_listeners) {
      struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
      if (tp) forget_zero_backlog_listener(sk, tp);
    }
    return 0;
  }
  if (oldstate == TCP_SYN_RECV) return 0; /* an accepted socket that never established */
  if (sk->sk_protocol != IPPROTO_TCP) return 0;
  __u16 family = sk->__sk_common.skc_family;
  if (family != AF_INET && family != AF_INET6) return 0;

  struct sock_info *info = storage_of(sk);
  if (info) {
    if (info->self) {
      info->self = 0;
      info->closed = 1; /* never counted in tracked_sockets */
      return 0;
    }
    if (info->closed)
      info = NULL; /* an earlier connect attempt of this socket */
    else
      stop_tracking(info);
  }
  /* Never listed, and now never will be: user space has not heard of it. */
  bool unheard = !info || claim(info, OWNER_CLOSING);
  struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
  if (!tp) return 0;
  __u32 netns = netns_of(sk);
  __u16 lport = local_port(tp);
  if (oldstate == TCP_SYN_SENT) {
    count(CARETTA_CNT_FAILED_CONNECT);
    if (unheard && aggregate_client_closes &&
        aggregate_close(sk, tp, info, CARETTA_ROLE_CLIENT, true, family, netns, lport,
                        oldstate))
      return 0;
    emit(sk, tp, info, CARETTA_ROLE_CLIENT, CARETTA_RECORD_FAILED, family, netns, lport, oldstate);
    return 0;
  }
  if (!info) {
    __u32 why = not_mapped(sk, family, netns, lport);
    if (why) {
      count(why);
      return 0;
    }
  }
  __u8 role = info ? info->role : role_of(sk, netns, lport);
  count(CARETTA_CNT_CLOSED);
  if (!info) count_opened(role);
  /* A socket user space never heard of (never listed) folds per link. */
  if (unheard && (role == CARETTA_ROLE_SERVER || aggregate_client_closes) &&
      aggregate_close(sk, tp, info, role, false, family, netns, lport, oldstate))
    return 0;
  emit(sk, tp, info, role, CARETTA_RECORD_CLOSED, family, netns, lport, oldstate);
  return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state_change, struct sock *sk, int oldstate, int newstate) {
  /* Only these transitions carry work; the others return at once. */
  if (newstate == TCP_CLOSE) return on_close(sk, oldstate);
  if (newstate == TCP_SYN_SENT) return on_connect(sk);
  if (newstate == TCP_ESTABLISHED && track_from_open) return on_established(sk, oldstate);
  if (newstate == TCP_LISTEN) remember_zero_backlog_listener(sk);
  return 0;
}

/* One live record for a tracked socket, if its counters moved since the last one
 * (or on a full dump): an idle connection costs a walk step, not a record.
 * Returns false when the record did not fit the iterator's buffer: the kernel then
 * shows the same socket again at the start of the next read, so nothing is
 * remembered of this attempt (what was reported changes only once the record is
 * written). */
static __always_inline bool list_socket(struct seq_file *seq, struct sock *sk,
                                        const struct tcp_sock *tp, struct sock_info *info) {
  __u64 acked = tp->bytes_acked, received = tp->bytes_received;
  __u32 retrans = tp->total_retrans;
  if (!full_dump && info->reported && acked == info->last_acked &&
      received == info->last_received && retrans == info->last_retrans)
    return true;
  struct caretta_conn rec = {};
  __u16 family = sk->__sk_common.skc_family;
  rec.cookie = info->cookie;
  rec.cgroup_id = cgroup_of(sk);
  rec.pid = info->pid;
  rec.role = info->role;
  rec.kind = CARETTA_RECORD_LIVE;
  rec.netns = netns_of(sk);
  rec.state = sk->__sk_common.skc_state;
  fill_tuple(&rec, sk, family, local_port(tp));
  fill_counters(&rec, sk, tp, baselines_of(info, info->role), rec.state);
  if (bpf_seq_write(seq, &rec, sizeof(rec))) return false;
  info->last_acked = acked;
  info->last_received = received;
  info->last_retrans = retrans;
  info->reported_sent =
      rec.bytes_acked > 0 && rec.fin_acked ? rec.bytes_acked - 1 : rec.bytes_acked;
  info->reported_received =
      rec.bytes_received > 0 && rec.fin_received ? rec.bytes_received - 1 : rec.bytes_received;
  info->reported = 1;
  return true;
}

static __always_inline bool is_open_state(int state) {
  return state == TCP_ESTABLISHED || state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 ||
         state == TCP_CLOSE_WAIT || state == TCP_CLOSING || state == TCP_LAST_ACK;
}

/*
 * The default listing: every TCP socket some process holds open. A socket seen for
 * the first time gets its storage now (baselines: nothing before the SYN, or, in
 * the start-up pass, everything so far), so a connection that opens and closes
 * between two polls never has any.
 */
/* The f_op of socket files (the kernel's socket_file_ops, which is static and so
 * not a ksym), learned from the first socket met: later files that are not
 * sockets cost one compare, no helper call. */
__u64 socket_fops = 0;

/* A socket the walk cannot track: counted the first time a walk meets it. */
static __always_inline void note_untracked(struct sock *sk, __u32 why) {
  __u64 cookie = bpf_get_socket_cookie(sk);
  __u32 *last_walk = bpf_map_lookup_elem(&untracked, &cookie);
  if (last_walk) {
    *last_walk = poll_gen;
    return;
  }
  count(why);
  /* If the map is full (64 Ki or more untracked sockets at once), the socket is
   * counted again at the next walk. */
  __u32 gen = poll_gen;
  bpf_map_update_elem(&untracked, &cookie, &gen, BPF_NOEXIST);
}

SEC("iter/task_file")
int dump_task_sockets(struct bpf_iter__task_file *ctx) {
  struct file *file = ctx->file;
  struct task_struct *task = ctx->task;
  if (!file || !task) return 0;
  /* The agent's own files (BPF objects mostly) before any read of the file. */
  __u32 tgid = task->tgid;
  if (self_tgid && tgid == self_tgid) return 0;
  __u64 fops = (__u64)file->f_op;
  if (socket_fops && fops != socket_fops) return 0;
  struct socket *sock = bpf_sock_from_file(file);
  if (!sock) return 0;
  if (!socket_fops) socket_fops = fops;
  struct sock *sk = sock->sk;
  if (!sk) return 0;
  struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
  if (!tp) return 0;
  sk = (struct sock *)tp;
  __u16 family = sk->__sk_common.skc_family;
  if (family != AF_INET && family != AF_INET6) return 0;
  int state = sk->__sk_common.skc_state;
  if (state == TCP_LISTEN) {
    remember_zero_backlog_listener(sk);
    return 0;
  }
  struct sock_info *info = storage_of(sk);
  if (!is_open_state(state)) {
    /* Closed while a process still holds it, before any listing: its close hook
     * found no storage, or claimed it; either way tracking ends here. */
    if (info && !info->closed && !info->self && claim(info, OWNER_CLOSING)) stop_tracking(info);
    return 0;
  }
  if (info && info->closed && !info->reconnected) return 0; /* closing, or gone */
  if (!info || info->closed) {
    __u32 netns = netns_of(sk);
    __u16 lport = local_port(tp);
    if (not_mapped(sk, family, netns, lport)) return 0;
    __u8 role = role_of(sk, netns, lport);
    if (tracked_sockets >= max_connections) {
      note_untracked(sk, CARETTA_CNT_DROP_TABLE_FULL);
      return 0;
    }
    __u32 why_not = 0;
    info = start_tracking(sk, tp, role, adopting, &why_not);
    if (!info) {
      note_untracked(sk, why_not);
      return 0;
    }
    info->pid = tgid;
    info->seen_gen = poll_gen;
    if (adopting)
      count(CARETTA_CNT_ADOPTED);
    else
      count_opened(role);
    /* Listed from the next poll on. Listed now, it could race its own close on
     * another CPU that saw no storage yet and folded the whole socket; a poll later
     * that close has long set TCP_CLOSE, or it finds this storage and claims it. */
    return 0;
  }
  if (info->self || info->seen_gen == poll_gen) return 0;
  if (!claim(info, OWNER_LISTED)) return 0; /* closing right now */
  /* Done for this walk once its record is written (another fd of the same socket
   * then skips it); a record that did not fit is written when the kernel shows
   * this file again. */
  if (list_socket(ctx->meta->seq, sk, tp, info)) info->seen_gen = poll_gen;
  return 0;
}

/* track_from_open: the listing walks the storage map, i.e. the tracked sockets. */
SEC("iter/bpf_sk_storage_map")
int dump_sockets(struct bpf_iter__bpf_sk_storage_map *ctx) {
  struct sock *sk = ctx->sk;
  struct sock_info *info = ctx->value;
  if (!sk || !info || info->closed || info->self) return 0;
  struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
  if (!tp) return 0;
  /* With the task walk, this iterator completes a full listing: it reaches the
   * sockets no process holds any more. Only those user space already knows. */
  if (!track_from_open && info->owner != OWNER_LISTED) return 0;
  if (!claim(info, OWNER_LISTED)) return 0; /* closing right now */
  list_socket(ctx->meta->seq, (struct sock *)tp, tp, info);
  return 0;
}

/*
 * track_from_open: adoption of sockets that were already open when the agent
 * started. User space runs this iterator once inside each network namespace
 * (iter/tcp walks the namespace of the reader). Bytes moved before adoption are not
 * counted: the baselines are taken now.
 */
SEC("iter/tcp")
int adopt_sockets(struct bpf_iter__tcp *ctx) {
  struct sock_common *skc = ctx->sk_common;
  if (!skc) return 0;
  __u16 family = BPF_CORE_READ(skc, skc_family);
  if (family != AF_INET && family != AF_INET6) return 0;
  int state = BPF_CORE_READ(skc, skc_state);
  if (state != TCP_LISTEN && !is_open_state(state)) return 0;
  struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);
  if (!tp) return 0;
  struct sock *sk = (struct sock *)tp;
  if (state == TCP_LISTEN) {
    remember_zero_backlog_listener(sk);
    return 0;
  }
  struct sock_info *known = storage_of(sk);
  if (known && !known->closed) return 0; /* already tracked */
  __u32 netns = netns_of(sk);
  __u16 lport = local_port(tp);
  if (not_mapped(sk, family, netns, lport)) return 0;
  __u32 why_not = 0;
  if (start_tracking(sk, tp, role_of(sk, netns, lport), true, &why_not))
    count(CARETTA_CNT_ADOPTED);
  else
    count(why_not); /* once: each namespace is walked once */
  return 0;
}

/* The floors for overhead benchmarks: the agent's attach points, no work. Not
 * loaded by the agent. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(empty_state_change, struct sock *sk, int oldstate, int newstate) { return 0; }

SEC("iter/task_file")
int empty_task_files(struct bpf_iter__task_file *ctx) { return 0; }

char LICENSE[] SEC("license") = "GPL";
