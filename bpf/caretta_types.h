/* Types shared by the BPF programs and the C++ tracer. Only __u* types here. */
#ifndef CARETTA_TYPES_H
#define CARETTA_TYPES_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

enum caretta_role {
  CARETTA_ROLE_UNKNOWN = 0,
  CARETTA_ROLE_CLIENT = 1, /* active open (connect) */
  CARETTA_ROLE_SERVER = 2, /* passive open (accept) */
};

enum caretta_record_kind {
  CARETTA_RECORD_LIVE = 1,   /* emitted by the iterator for an open socket */
  CARETTA_RECORD_CLOSED = 2, /* final counters, emitted at TCP_CLOSE */
  CARETTA_RECORD_FAILED = 3, /* connect that never reached ESTABLISHED */
};

/* Indexes into the per-CPU `counters` array. Keep in sync with kCounterNames. */
enum caretta_counter {
  CARETTA_CNT_OPENED_CLIENT = 0, /* sockets first accounted for (listed live or closed) */
  CARETTA_CNT_OPENED_SERVER,
  CARETTA_CNT_CLOSED,
  CARETTA_CNT_FAILED_CONNECT,
  CARETTA_CNT_LOOPBACK,        /* loopback sockets, excluded from links */
  CARETTA_CNT_SELF,            /* the agent's own sockets, excluded */
  CARETTA_CNT_DROP_TABLE_FULL, /* not tracked: max_connections reached */
  CARETTA_CNT_DROP_STORAGE,    /* not tracked: socket storage allocation failed */
  CARETTA_CNT_DROP_RINGBUF,    /* close/failed record lost: ring buffer full */
  CARETTA_CNT_ADOPTED,         /* sockets already open at start-up, adopted */
  CARETTA_CNT_AGGREGATED,      /* close records folded into the close cache */
  /* Data bytes of sockets whose close record was lost (ring buffer full), beyond
   * what user space had already been told: counted here, never silently. */
  CARETTA_CNT_LOST_SENT_BYTES,
  CARETTA_CNT_LOST_RECEIVED_BYTES,
  CARETTA_CNT_MAX,
};

/* One socket as user space sees it (iterator output and ring-buffer record). */
struct caretta_conn {
  __u64 cookie;         /* socket cookie; 0 = a socket never listed live (close record only) */
  __u64 cgroup_id;      /* cgroup v2 id of the socket's owner */
  __u64 bytes_acked;    /* tcp_sock.bytes_acked, SYN taken out (FIN included once acked) */
  __u64 bytes_received; /* tcp_sock.bytes_received (FIN included) */
  __u8 laddr[16];       /* local address; IPv4 in the first 4 bytes */
  __u8 raddr[16];       /* remote address */
  __u32 netns;          /* network namespace inode */
  __u32 pid;            /* a process holding the socket (task iterator); 0 when unknown */
  __u32 retransmits;    /* tcp_sock.total_retrans */
  __u16 lport;          /* host order */
  __u16 rport;          /* host order */
  __u16 family;         /* AF_INET or AF_INET6 */
  __u8 role;            /* enum caretta_role */
  __u8 kind;            /* enum caretta_record_kind */
  __u8 state;           /* TCP state at the time of the record */
  __u8 fin_acked;       /* our FIN was sent and acknowledged: bytes_acked counts it */
  __u8 fin_received;    /* peer's FIN arrived: bytes_received counts it */
  __u8 pad;
};

/*
 * Close cache: most closing sockets were never listed live, and what user space
 * needs of them is per link, not per socket. Each CPU folds those closes into a
 * small direct-mapped table of slots keyed by link (for a client: without its
 * ephemeral port), written in place: no record per connection. User space reads
 * the table through mmap at each poll; a slot taken over by another key first
 * sends its final totals through the ring buffer (struct caretta_slot_flush).
 */
#define CARETTA_CLOSE_SLOTS 128

enum caretta_close_flags {
  CARETTA_CLOSE_FAILED = 1, /* connects that never established */
  CARETTA_CLOSE_IPV6 = 2,
};

struct caretta_close_key {
  __u8 laddr[16];
  __u8 raddr[16];
  __u64 cgroup_id;
  __u32 netns;
  __u16 server_port; /* host order */
  __u8 role;         /* enum caretta_role */
  __u8 flags;        /* enum caretta_close_flags */
};

/* Written only by the BPF program on its own CPU. A seqlock in two halves: the
 * writer stores `end` first and `begin` last, the reader loads `begin` first and
 * `end` last; a copy is whole when both match. */
struct caretta_close_slot {
  __u32 begin;
  __u32 gen; /* 0 = never used; bumped when the slot takes a new key */
  struct caretta_close_key key;
  __u64 sent;     /* data bytes: SYN and FIN taken out */
  __u64 received;
  __u32 sockets;  /* closes folded in */
  __u32 retransmits;
  __u32 pad;
  __u32 end;
};

struct caretta_close_cache {
  struct caretta_close_slot slot[CARETTA_CLOSE_SLOTS];
  /* Set while the program writes this CPU's table: a close in an interrupt that
   * lands inside it (kernels that do not keep a program from nesting in itself)
   * goes to the ring buffer instead of tearing a slot. */
  __u64 busy;
};

#define CARETTA_SLOT_FLUSH_MAGIC 0x464c5553u /* "FLUS" */

/* Ring-buffer record: a slot's final totals for one generation. */
struct caretta_slot_flush {
  __u32 magic;
  __u32 cpu;
  __u32 index;
  __u32 pad;
  struct caretta_close_slot slot;
};

#endif /* CARETTA_TYPES_H */
