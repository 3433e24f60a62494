"""The soak's people: what they do when the other side says no (fast; the soak itself is in test_chaos_soak)."""

from __future__ import annotations

from pathlib import Path

from bench.soak.customers import Customers, Mix
from bench.soak.world import Faults, running_world


def test_a_shop_cancel_the_shop_refuses_is_recorded_as_refused_and_not_retried(tmp_path: Path) -> None:
    with running_world(
        tmp_path,
        database=f"sqlite:///{tmp_path / 'state.db'}",
        faults=Faults(),
        workers=1,
        lease=5.0,
        pace=1.0,
    ) as world:
        products = [int(row["id"]) for row in world.shop.control.entities("products", available="Y")][:2]
        people = Customers(world, products, orders=0, rate=1.0, mix=Mix(), seed=3)
        # The shop refuses a cancel once a payment is paid or a shipment shipped (the soak met the second when the
        # warehouse shipped before the manager's cancel); paying is the shorter way to the same refusal.
        paid, open_ = people._place(), people._place()
        for payment in world.shop.control.entities("payments", orderId=paid):
            fields = {"paid": "Y", "paySystemId": payment["paySystemId"]}
            world.shop_admin("sale.payment.update", {"id": payment["id"], "fields": fields})

        people._shop_cancel(paid)
        people._shop_cancel(open_)

        assert people.record.shop_cancelled == {open_}
        assert len(people.record.refused) == 1
        assert f"shop cancel of {paid}" in people.record.refused[0]
        assert "SALE_ORDER_CANCEL_PAYMENT_EXIST_ACTIVE" in people.record.refused[0]
        orders = {int(row["id"]): row for row in world.shop.control.entities("orders")}
        assert (orders[paid]["canceled"], orders[open_]["canceled"]) == ("N", "Y")
