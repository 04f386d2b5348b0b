"""The execution diff: fewest commands, debounce, one command in flight, cancels first, budget."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshi_mm.core.commands import AmendOrder, CancelOrder, DecreaseOrder, PlaceOrder
from kalshi_mm.core.execution import ExecutionParams, LiveOrder, apply_budget, diff
from kalshi_mm.core.strategies.base import IOC, TargetOrder
from kalshi_mm.domain.market import LINEAR_CENT
from kalshi_mm.domain.orders import OrderStatus

T = "KX-1"
NOW = 100_000
EAGER = ExecutionParams(min_move_ticks=1, max_quote_age_s=0.0)


def resting(coid: str, tag: str, side: str, price: int, remaining: int, priced_ms: int = 0, **kw) -> LiveOrder:
    kw.setdefault("post_only", True)
    o = LiveOrder(coid, T, side, price, remaining, order_id=f"oid-{coid}", tag=tag, priced_ms=priced_ms, **kw)
    o.status = OrderStatus.RESTING
    return o


def ids():
    c = itertools.count(1)
    return lambda: f"n-{next(c)}"


def run(targets, live, params=EAGER, now=NOW, **kw):
    return diff(T, targets, live, LINEAR_CENT, params, now, ids(), **kw)


def test_nothing_to_do_when_live_matches_target() -> None:
    live = [resting("a", "bid", "bid", 4500, 1000)]
    assert run([TargetOrder("bid", "bid", 4500, 1000)], live) == []


def test_place_when_missing_and_cancel_when_unwanted() -> None:
    live = [resting("a", "ask", "ask", 5500, 1000)]
    cmds = run([TargetOrder("bid", "bid", 4500, 1000)], live)
    assert [type(c) for c in cmds] == [CancelOrder, PlaceOrder]
    assert cmds[0].client_order_id == "a"
    p = cmds[1]
    assert (p.side, p.price, p.count, p.tag, p.post_only, p.client_order_id) == ("bid", 4500, 1000, "bid", True, "n-1")


def test_price_change_is_one_amend_with_total_count() -> None:
    o = resting("a", "bid", "bid", 4500, 600)
    o.filled = 400
    cmds = run([TargetOrder("bid", "bid", 4600, 1000)], [o])
    assert cmds == [
        AmendOrder(ticker=T, order_id="oid-a", client_order_id="a", side="bid", price=4600, count=1400)
    ]


def test_size_cut_is_a_decrease_and_size_increase_an_amend() -> None:
    live = [resting("a", "bid", "bid", 4500, 1000)]
    assert run([TargetOrder("bid", "bid", 4500, 300)], live) == [
        DecreaseOrder(ticker=T, order_id="oid-a", client_order_id="a", reduce_to=300)
    ]
    cmds = run([TargetOrder("bid", "bid", 4500, 2000)], live)
    assert len(cmds) == 1 and isinstance(cmds[0], AmendOrder) and cmds[0].count == 2000


def test_incompatible_flags_mean_cancel_and_place() -> None:
    live = [resting("a", "bid", "bid", 4500, 1000)]
    cmds = run([TargetOrder("bid", "ask", 4500, 1000)], live)  # side changed
    assert [type(c) for c in cmds] == [CancelOrder, PlaceOrder]


def test_use_amend_false_reprices_by_cancel_and_place() -> None:
    live = [resting("a", "bid", "bid", 4500, 1000)]
    cmds = run([TargetOrder("bid", "bid", 4700, 1000)], live, ExecutionParams(min_move_ticks=1, use_amend=False))
    assert [type(c) for c in cmds] == [CancelOrder, PlaceOrder]


def test_debounce_holds_small_aggressive_moves_until_the_quote_is_old() -> None:
    p = ExecutionParams(min_move_ticks=2, max_quote_age_s=1.0)
    live = [resting("a", "bid", "bid", 4500, 1000, priced_ms=NOW - 500)]
    # one tick more aggressive, young order: held
    assert run([TargetOrder("bid", "bid", 4600, 1000)], live, p) == []
    # two ticks: goes
    assert len(run([TargetOrder("bid", "bid", 4700, 1000)], live, p)) == 1
    # one tick but the order is older than max_quote_age: goes
    assert len(run([TargetOrder("bid", "bid", 4600, 1000)], live, p, now=NOW + 600)) == 1
    # a target-specific max age (quote TTL) overrides the default
    t = TargetOrder("bid", "bid", 4600, 1000, max_age_ms=10_000)
    assert run([t], live, p, now=NOW + 600) == []
    # protective moves (bid down / ask up) are never held back
    assert len(run([TargetOrder("bid", "bid", 4400, 1000)], live, p)) == 1
    ask = [resting("b", "ask", "ask", 5500, 1000, priced_ms=NOW)]
    assert len(run([TargetOrder("ask", "ask", 5600, 1000)], ask, p)) == 1
    assert run([TargetOrder("ask", "ask", 5400, 1000)], ask, p) == []
    # a held reprice still lets a size cut through
    cmds = run([TargetOrder("bid", "bid", 4600, 400)], live, p)
    assert cmds == [DecreaseOrder(ticker=T, order_id="oid-a", client_order_id="a", reduce_to=400)]


def test_at_most_one_command_in_flight_per_order() -> None:
    o = resting("a", "bid", "bid", 4500, 1000, inflight="amend")
    assert run([TargetOrder("bid", "bid", 4700, 1000)], [o]) == []
    assert run([], [o]) == []  # not even a cancel while the amend is unanswered
    pending = LiveOrder("p", T, "bid", 4500, 1000, tag="bid", inflight="place")
    assert run([TargetOrder("bid", "bid", 4700, 1000)], [pending]) == []  # no id yet, no duplicate
    assert run([], [pending]) == []
    canceling = resting("c", "bid", "bid", 4500, 1000, inflight="cancel")
    # an order being canceled is ignored: the target gets a fresh order
    cmds = run([TargetOrder("bid", "bid", 4500, 1000)], [canceling])
    assert [type(c) for c in cmds] == [PlaceOrder]


def test_ioc_is_never_amended_and_waits_for_its_predecessor() -> None:
    ioc = TargetOrder("reduce", "ask", 4400, 1000, post_only=False, time_in_force=IOC, reduce_only=True)
    live = [resting("r", "reduce", "ask", 4500, 1000, post_only=False, time_in_force=IOC, reduce_only=True)]
    assert run([ioc], live) == []
    cmds = run([ioc], [])
    assert len(cmds) == 1 and cmds[0].time_in_force == IOC and cmds[0].reduce_only and not cmds[0].post_only


def test_failed_amend_falls_back_to_cancel_and_place() -> None:
    o = resting("a", "bid", "bid", 4500, 1000, amend_failed=True)
    cmds = run([TargetOrder("bid", "bid", 4700, 1000)], [o])
    assert [type(c) for c in cmds] == [CancelOrder, PlaceOrder]


def test_blocked_tags_are_not_placed() -> None:
    assert run([TargetOrder("bid", "bid", 4500, 1000)], [], blocked_tags=["bid"]) == []


def test_cancels_first_and_budget() -> None:
    live = [resting("a", "ask", "ask", 5500, 1000), resting("b", "bid", "bid", 4500, 1000)]
    targets = [TargetOrder("bid", "bid", 4700, 1000), TargetOrder("exit", "ask", 5000, 500)]
    cmds = run(targets, live)
    kinds = [type(c) for c in cmds]
    assert kinds == [CancelOrder, AmendOrder, PlaceOrder]
    kept, used = apply_budget(list(reversed(cmds)), 12, EAGER)
    assert [type(c) for c in kept] == [CancelOrder, AmendOrder] and used == 12
    kept, used = apply_budget(cmds, 1, EAGER)
    assert kept == [] and used == 0
    kept, used = apply_budget(cmds, None, EAGER)
    assert len(kept) == 3 and used == 22


# -- property: the diff reaches the target in the fewest commands ------------------------------

TAGS = ("bid", "ask", "exit")
prices = st.integers(min_value=1, max_value=99).map(lambda c: c * 100)
sizes = st.integers(min_value=1, max_value=50).map(lambda n: n * 100)
sides = st.sampled_from(("bid", "ask"))


@st.composite
def scenario(draw):
    live = []
    n = 0
    for tag in TAGS:
        for _ in range(draw(st.integers(0, 2))):
            n += 1
            live.append(resting(f"l{n}", tag, draw(sides), draw(prices), draw(sizes)))
    targets = []
    for tag in TAGS:
        if draw(st.booleans()):
            targets.append(TargetOrder(tag, draw(sides), draw(prices), draw(sizes)))
    return live, targets


def apply(live: list[LiveOrder], cmds) -> dict[str, list[tuple[str, int, int]]]:
    by_coid = {o.client_order_id: [o.tag, o.side, o.price, o.remaining] for o in live}
    for c in cmds:
        if isinstance(c, CancelOrder):
            del by_coid[c.client_order_id]
        elif isinstance(c, AmendOrder):
            by_coid[c.client_order_id][2] = c.price
            by_coid[c.client_order_id][3] = c.count  # filled is 0 here
        elif isinstance(c, DecreaseOrder):
            by_coid[c.client_order_id][3] = c.reduce_to
        else:
            by_coid[c.client_order_id] = [c.tag, c.side, c.price, c.count]
    out: dict[str, list[tuple[str, int, int]]] = {}
    for tag, side, price, rem in by_coid.values():
        out.setdefault(tag, []).append((side, price, rem))
    return out


def lower_bound(live: list[LiveOrder], targets: list[TargetOrder]) -> int:
    """Each unwanted order needs a cancel; each target not already met needs one command."""
    n = 0
    want = {t.tag: t for t in targets}
    for tag in TAGS:
        orders = [o for o in live if o.tag == tag]
        t = want.get(tag)
        if t is None:
            n += len(orders)
            continue
        usable = [o for o in orders if o.side == t.side]
        if usable:
            n += len(orders) - 1  # keep one, cancel the rest
            keep = usable[0]
            n += 0 if (keep.price, keep.remaining) == (t.price, t.size) else 1
        else:
            n += len(orders) + 1
    return n


@settings(max_examples=300, deadline=None)
@given(scenario())
def test_diff_reaches_the_target_in_the_fewest_commands(case) -> None:
    live, targets = case
    cmds = run(targets, live)
    final = apply(live, cmds)
    assert final == {t.tag: [(t.side, t.price, t.size)] for t in targets}
    assert len(cmds) == lower_bound(live, targets)
    # cancels come first
    kinds = [0 if isinstance(c, CancelOrder) else 1 for c in cmds]
    assert kinds == sorted(kinds)
    # at most one command per order
    touched = [c.client_order_id for c in cmds if not isinstance(c, PlaceOrder)]
    assert len(touched) == len(set(touched))
