#!/usr/bin/env python3
"""e2e: the agent restarted mid-run loses nothing it had already exported.

Phases: warm-up traffic → Prometheus has every series → phase 1 traffic → exported and
scraped → agent stopped (SIGTERM) and started again on the same port → phase 2 traffic.
Then:
  * the new agent's totals start from zero: its values equal phase 2 alone;
  * the reset is visible: resets() ≥ 1 on every series that had traffic in both;
  * computed from the raw samples (counter-reset aware), the increase over phases 1+2
    equals the ground truth exactly; Prometheus increase() agrees within its
    extrapolation (≥ truth, ≤ 1.15 × truth).
Uses Kubernetes names when the agent has the resolver, else the host view.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2elib as E  # noqa: E402

METRIC = "caretta_link_bytes_sent_total"


def minus(tb, ta, view):
    eb, ea = E.expected_edges(tb, view), E.expected_edges(ta, view)
    return {k: e["bytes_sent"] - (ea[k]["bytes_sent"] if k in ea else 0) for k, e in eb.items()}


def main():
    ck = E.Checks()
    with E.Env("e2er", k8s=True) as env:
        view = "k8s" if env.k8s else "host"
        if view == "k8s" and "conntrack" not in E.agent_help().lower():
            view = "k8s_service"
        E.log(f"view {view}")
        prom = env.prom

        def settled(truth):
            exp = E.expected_edges(truth, view)
            return lambda: not E.diff_edges(exp, E.observed(prom, METRIC, truth, view),
                                            "bytes_sent") or False

        env.traffic(scale=0.1)
        t0 = env.truth()
        ck.check("warm-up exported", E.wait_for(settled(t0), 25) is True)
        time.sleep(2)
        start = time.time()
        env.traffic(scale=0.5)
        t1 = env.truth()
        ck.check("phase 1 exported and scraped", E.wait_for(settled(t1), 25) is True)
        time.sleep(2)

        E.log("restarting the agent")
        env.agent.stop()
        env.agent.start()
        # A reset is only visible to Prometheus if it scrapes a value below the old
        # one: a small round first, scraped, then the main round.
        env.traffic(scale=0.1)
        tw = env.truth()
        dw = minus(tw, t1, view)
        ck.check("restarted agent exported the small round",
                 E.wait_for(lambda: E.observed(prom, METRIC, tw, view) ==
                            {k: float(v) for k, v in dw.items() if v > 0} or False, 25) is True)
        time.sleep(2)
        env.traffic(scale=0.5)
        t2 = env.truth()
        d2 = minus(t2, t1, view)
        d12 = minus(t2, t0, view)

        # The new agent's own totals: phase 2 only (it starts from zero).
        def fresh():
            obs = E.observed(prom, METRIC, t2, view)
            exp = {k: v for k, v in d2.items() if v > 0}
            return obs == {k: float(v) for k, v in exp.items()} or False
        ok = E.wait_for(fresh, 25)
        obs = E.observed(prom, METRIC, t2, view)
        ck.check("after restart totals resume from zero (values == phase 2 ground truth)",
                 [] if ok is True else
                 [f"{E.fmt(k)}: {obs.get(k)} != {v}" for k, v in d2.items()
                  if v > 0 and obs.get(k) != v][:20] or ["series sets differ"])
        time.sleep(2)

        now = time.time()
        rng = int(now - start + 5)
        by = ", ".join(E.LINK_KEY)
        resets = {E.edge_key(m): v for m, v in
                  prom.vector(f"sum by ({by}) (resets({METRIC}[{rng}s]))")}
        e1 = E.expected_edges(t1, view)
        both = [k for k in d2 if dw.get(k, 0) > 0 and k in e1]
        ck.check(f"reset visible: resets() >= 1 on {len(both)} series",
                 [f"{E.fmt(k)}: resets={resets.get(k)}" for k in both if resets.get(k, 0) < 1])

        # Exact increase from the raw samples since the warm-up totals were scraped.
        e0 = E.expected_edges(t0, view)
        raw = {}
        for m, samples in prom.matrix(f"{METRIC}[{rng}s]"):
            if not E.is_sim_series(m, t2, view):
                continue
            k = E.edge_key(m)
            # A series born after the warm-up starts from zero (not scraped yet).
            inc, prev = (0.0, None) if k in e0 else (0.0, 0.0)
            for _, v in samples:
                if prev is not None:
                    inc += v - prev if v >= prev else v
                prev = v
            raw[k] = raw.get(k, 0) + inc
        checked = [k for k in d12 if k not in e1 or k in both]
        ck.check(f"increase over the restart from raw samples == ground truth (phases 1+2, "
                 f"{len(checked)} of {len(d12)} series)",
                 [f"{E.fmt(k)}: {raw.get(k, 0):.0f} != {d12[k]}" for k in checked
                  if abs(raw.get(k, 0) - d12[k]) > 0.5])
        inc = {E.edge_key(m): v for m, v in
               prom.vector(f"sum by ({by}) (increase({METRIC}[{rng}s]))")}
        ck.check("Prometheus increase() over the restart within [1, 1.15] x ground truth",
                 [f"{E.fmt(k)}: increase={inc.get(k, 0):.0f} truth={v}" for k, v in d12.items()
                  if v > 0 and k in e0 and k in checked and not (v * 0.999 - 1 <= inc.get(k, 0) <= v * 1.15 + 1)])
    ck.exit()


if __name__ == "__main__":
    main()
