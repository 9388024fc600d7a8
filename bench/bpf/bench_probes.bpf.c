// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark-only programs: what a per-packet design pays before doing any work.
 * Empty programs on the send/recv length tracepoints (one call per sendmsg/recvmsg),
 * the hooks a byte-counting tracer would need. Never loaded by the agent.
 */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/sock_send_length")
int BPF_PROG(empty_send_len, struct sock *sk, int ret, int flags) { return 0; }

SEC("tp_btf/sock_recv_length")
int BPF_PROG(empty_recv_len, struct sock *sk, int ret, int flags) { return 0; }

char LICENSE[] SEC("license") = "GPL";
