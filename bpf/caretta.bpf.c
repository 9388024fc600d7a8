// SPDX-License-Identifier: GPL-2.0
/*
 * Connection tracer. Zero work per packet: the only hooks are TCP state changes.
 *
 * - tp_btf/inet_sock_set_state: on active/passive open, attach socket-local storage
 *   (role, owner, baselines of the kernel's own byte counters); at TCP_CLOSE, emit a
 *   final record to a ring buffer and drop the storage.
 * - iter/bpf_sk_storage_map: user space reads this iterator once per poll; for every
 *   tracked socket it emits the current kernel counters (bytes_acked, bytes_received,
 *   total_retrans). Those counters are exact for every syscall that moves data
 *   (send, write, writev, sendmsg, sendfile, splice, io_uring...), so no send/recv
 *   hook and no per-packet map update is needed.
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
const volatile __u32 self_tgid = 0;       /* the agent: its client sockets are skipped */
const volatile __u32 self_netns = 0;      /* the agent's netns ... */
const volatile __u16 self_port = 0;       /* ... and HTTP port: its scrapes are skipped */
const volatile __u32 max_connections = 65536;
const volatile __u8 track_loopback = 0;
const volatile __u64 ring_wakeup_bytes = 1 << 18; /* a quarter of the ring */

/* Set by user space before it reads the iterator: list every socket, not only
 * those whose counters moved (after a lost close record, to find vanished ones). */
__u8 full_dump = 0;

/* Live tracked sockets; bounded by max_connections (socket storage has no max_entries). */
__u64 tracked_sockets = 0;

struct sock_info {
  __u64 cookie;
  __u64 opened_ns;
  __u64 cgroup_id;
  __u64 base_acked;
  __u64 base_received;
  __u8 laddr[16]; /* the tuple, saved at ESTABLISHED: at TCP_CLOSE the kernel has */
  __u8 raddr[16]; /* already released the local port (inet_num reads 0) */
  __u16 lport;
  __u16 rport;
  __u64 last_acked; /* counters last reported by the iterator */
  __u64 last_received;
  __u32 last_retrans;
  __u32 pid;
  __u32 base_retrans;
  __u8 role;
  __u8 established;
  __u8 closed; /* final record sent; the storage itself goes with the socket */
  __u8 reported;
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

/* Listening ports per namespace, filled by the adoption iterator (listeners come
 * before established sockets in its walk) to tell servers from clients. */
struct listen_key {
  __u32 netns;
  __u16 port;
  __u16 pad;
};
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, struct listen_key);
  __type(value, __u8);
} listen_ports SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, CARETTA_CNT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 which) {
  __u64 *value = bpf_map_lookup_elem(&counters, &which);
  if (value) *value += 1;
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

static __always_inline bool fin_received(const struct sock *sk) {
  /* tcp_fin() sets SOCK_DONE when the peer's FIN is processed in order. */
  return sk->__sk_common.skc_flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE));
}

static __always_inline void read_tuple(const struct sock *sk, __u16 family, __u8 *laddr,
                                       __u8 *raddr, __u16 *lport, __u16 *rport) {
  *lport = sk->__sk_common.skc_num;
  *rport = bpf_ntohs(sk->__sk_common.skc_dport);
  if (family == AF_INET) {
    __u32 l = sk->__sk_common.skc_rcv_saddr;
    __u32 r = sk->__sk_common.skc_daddr;
    __builtin_memcpy(laddr, &l, 4);
    __builtin_memcpy(raddr, &r, 4);
  } else {
    __builtin_memcpy(laddr, sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8, 16);
    __builtin_memcpy(raddr, sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8, 16);
  }
}

/* The kernel's own counters for one socket. */
struct counters {
  __u64 acked, received;
  __u32 retrans, snd_una, write_seq;
};

static __always_inline void read_counters(const struct tcp_sock *tp, struct counters *c) {
  c->acked = tp->bytes_acked;
  c->received = tp->bytes_received;
  c->retrans = tp->total_retrans;
  c->snd_una = tp->snd_una;
  c->write_seq = tp->write_seq;
}

/* A FIN was queued: the socket is (or was, for `oldstate` at close) past close()
 * or shutdown(SHUT_WR). Derived from the state so that no hook on these
 * transitions is needed. */
static __always_inline bool fin_sent_in(int state) {
  return state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 || state == TCP_CLOSING ||
         state == TCP_LAST_ACK || state == TCP_TIME_WAIT;
}

static __always_inline void fill_record(struct caretta_conn *rec, const struct sock *sk,
                                        const struct sock_info *info, __u8 kind,
                                        const struct counters *c, bool fin_sent) {
  __u16 family = sk->__sk_common.skc_family;

  rec->cookie = info->cookie;
  rec->opened_ns = info->opened_ns;
  rec->cgroup_id = info->cgroup_id;
  rec->pid = info->pid;
  rec->role = info->role;
  rec->kind = kind;
  rec->family = family;
  rec->netns = netns_of(sk);
  rec->state = sk->__sk_common.skc_state;
  if (!info->established || !c) {
    /* A failed connect: the remote end is still intact, the local port is not. */
    read_tuple(sk, family, rec->laddr, rec->raddr, &rec->lport, &rec->rport);
    return;
  }
  __builtin_memcpy(rec->laddr, info->laddr, 16);
  __builtin_memcpy(rec->raddr, info->raddr, 16);
  rec->lport = info->lport;
  rec->rport = info->rport;
  rec->bytes_acked = c->acked - info->base_acked;
  rec->bytes_received = c->received - info->base_received;
  rec->retransmits = c->retrans - info->base_retrans;
  /* The FIN takes one sequence number; once acked, bytes_acked includes it. */
  rec->fin_acked = fin_sent && c->snd_una == c->write_seq;
  rec->fin_received = fin_received(sk);
}

static __always_inline struct sock_info *start_tracking(struct sock *sk, __u8 role) {
  if (tracked_sockets >= max_connections) {
    count(CARETTA_CNT_DROP_TABLE_FULL);
    return NULL;
  }
  struct sock_info *info = bpf_sk_storage_get(&sockets, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
  if (!info) {
    count(CARETTA_CNT_DROP_STORAGE);
    return NULL;
  }
  __builtin_memset(info, 0, sizeof(*info)); /* a socket connecting again */
  __sync_fetch_and_add(&tracked_sockets, 1);
  info->cookie = bpf_get_socket_cookie(sk);
  info->opened_ns = bpf_ktime_get_ns();
  info->cgroup_id = cgroup_of(sk);
  info->role = role;
  return info;
}

/* The storage is not deleted here: the kernel frees it with the socket, and
 * deleting costs more than the whole rest of this hook. */
static __always_inline void stop_tracking(struct sock_info *info) {
  info->closed = 1;
  __sync_fetch_and_add(&tracked_sockets, -1);
}

static __always_inline void mark_established(struct sock *sk, struct sock_info *info) {
  struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
  if (!tp) return;
  info->base_acked = tp->bytes_acked;
  info->base_received = tp->bytes_received;
  info->base_retrans = tp->total_retrans;
  read_tuple(sk, sk->__sk_common.skc_family, info->laddr, info->raddr, &info->lport,
             &info->rport);
  info->established = 1;
}

static __always_inline void emit(struct sock *sk, struct sock_info *info, __u8 kind,
                                 int oldstate) {
  struct caretta_conn *rec = bpf_ringbuf_reserve(&closed_events, sizeof(*rec), 0);
  if (!rec) {
    count(CARETTA_CNT_DROP_RINGBUF);
    return;
  }
  __builtin_memset(rec, 0, sizeof(*rec));
  struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
  struct counters c = {};
  if (tp) read_counters(tp, &c);
  fill_record(rec, sk, info, kind, tp ? &c : NULL, fin_sent_in(oldstate));
  /* Wake the reader only when the buffer fills up; it also drains on a short timer. */
  __u64 avail = bpf_ringbuf_query(&closed_events, BPF_RB_AVAIL_DATA);
  bpf_ringbuf_submit(rec, avail > ring_wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state_change, struct sock *sk, int oldstate, int newstate) {
  /* Only these transitions carry work; the others return before any lookup. */
  if (newstate != TCP_SYN_SENT && newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE) return 0;
  if (sk->sk_protocol != IPPROTO_TCP) return 0;
  __u16 family = sk->__sk_common.skc_family;
  if (family != AF_INET && family != AF_INET6) return 0;

  struct sock_info *info = bpf_sk_storage_get(&sockets, sk, NULL, 0);
  if (info && info->closed) info = NULL;

  switch (newstate) {
    case TCP_SYN_SENT: {
      if (info) return 0;
      __u32 tgid = bpf_get_current_pid_tgid() >> 32;
      if (self_tgid && tgid == self_tgid) {
        count(CARETTA_CNT_SELF);
        return 0;
      }
      info = start_tracking(sk, CARETTA_ROLE_CLIENT);
      if (info) info->pid = tgid;
      return 0;
    }
    case TCP_ESTABLISHED: {
      if (!track_loopback && is_loopback(sk, family)) {
        if (info) stop_tracking(info);
        count(CARETTA_CNT_LOOPBACK);
        return 0;
      }
      if (info) {
        if (!info->established) {
          mark_established(sk, info);
          count(CARETTA_CNT_OPENED_CLIENT);
        }
        return 0;
      }
      if (oldstate != TCP_SYN_RECV) return 0;
      if (self_port && sk->__sk_common.skc_num == self_port && netns_of(sk) == self_netns) {
        count(CARETTA_CNT_SELF);
        return 0;
      }
      info = start_tracking(sk, CARETTA_ROLE_SERVER);
      if (!info) return 0;
      mark_established(sk, info);
      count(CARETTA_CNT_OPENED_SERVER);
      return 0;
    }
    case TCP_CLOSE:
      if (!info) return 0;
      if (info->established) {
        emit(sk, info, CARETTA_RECORD_CLOSED, oldstate);
        count(CARETTA_CNT_CLOSED);
      } else if (oldstate == TCP_SYN_SENT && info->role == CARETTA_ROLE_CLIENT) {
        emit(sk, info, CARETTA_RECORD_FAILED, oldstate);
        count(CARETTA_CNT_FAILED_CONNECT);
      }
      stop_tracking(info);
      return 0;
    default:
      return 0;
  }
}

/* Lists tracked sockets whose counters moved since the last read (all of them on a
 * full dump or the first time a socket is seen), so an idle connection costs a walk
 * step, not a record: the output, and the kernel's per-read re-walk of the bucket,
 * stay proportional to activity. */
SEC("iter/bpf_sk_storage_map")
int dump_sockets(struct bpf_iter__bpf_sk_storage_map *ctx) {
  struct sock *sk = ctx->sk;
  struct sock_info *info = ctx->value;
  if (!sk || !info || !info->established || info->closed) return 0;
  struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
  if (!tp) return 0;
  struct counters c;
  read_counters(tp, &c);
  if (!full_dump && info->reported && c.acked == info->last_acked &&
      c.received == info->last_received && c.retrans == info->last_retrans)
    return 0;
  info->last_acked = c.acked;
  info->last_received = c.received;
  info->last_retrans = c.retrans;
  info->reported = 1;
  struct caretta_conn rec = {};
  fill_record(&rec, sk, info, CARETTA_RECORD_LIVE, &c, fin_sent_in(sk->__sk_common.skc_state));
  bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
  return 0;
}

/*
 * Adoption of sockets that were already open when the agent started: user space
 * runs this iterator once inside each network namespace (iter/tcp walks the
 * namespace of the reader). Bytes moved before adoption are not counted: the
 * baselines are taken now, as for a socket opened now.
 */
SEC("iter/tcp")
int adopt_sockets(struct bpf_iter__tcp *ctx) {
  struct sock_common *skc = ctx->sk_common;
  if (!skc) return 0;
  __u16 family = BPF_CORE_READ(skc, skc_family);
  if (family != AF_INET && family != AF_INET6) return 0;
  int state = BPF_CORE_READ(skc, skc_state);
  __u32 netns = BPF_CORE_READ(skc, skc_net.net, ns.inum);
  __u16 lport = BPF_CORE_READ(skc, skc_num);
  if (state == TCP_LISTEN) {
    struct listen_key key = {.netns = netns, .port = lport};
    __u8 one = 1;
    bpf_map_update_elem(&listen_ports, &key, &one, BPF_ANY);
    return 0;
  }
  if (state != TCP_ESTABLISHED && state != TCP_FIN_WAIT1 && state != TCP_FIN_WAIT2 &&
      state != TCP_CLOSE_WAIT && state != TCP_CLOSING && state != TCP_LAST_ACK)
    return 0;
  struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);
  if (!tp) return 0;
  struct sock *sk = (struct sock *)tp;
  struct sock_info *known = bpf_sk_storage_get(&sockets, sk, NULL, 0);
  if (known && !known->closed) return 0; /* already tracked */
  if (!track_loopback && is_loopback(sk, family)) return 0;
  if (self_port && lport == self_port && netns == self_netns) return 0;
  struct listen_key key = {.netns = netns, .port = lport};
  __u8 role = bpf_map_lookup_elem(&listen_ports, &key) ? CARETTA_ROLE_SERVER : CARETTA_ROLE_CLIENT;
  struct sock_info *info = start_tracking(sk, role);
  if (!info) return 0;
  mark_established(sk, info);
  count(CARETTA_CNT_ADOPTED);
  return 0;
}

/* The floor for overhead benchmarks: same hook, no work. Not loaded by the agent. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(empty_state_change, struct sock *sk, int oldstate, int newstate) { return 0; }

char LICENSE[] SEC("license") = "GPL";
