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

#endif /* CARETTA_TYPES_H */
