"""The sandbox's per-method operating time: a sliding 10-minute window, kept to what the window holds."""

from __future__ import annotations

from bitrix_inflow.sandboxes.bitrix.limits import OPERATING_WINDOW_S, OperatingTime


def test_the_window_slides_and_holds_only_live_bookings() -> None:
    operating = OperatingTime()
    for second in range(2_000):
        operating.book("hook", "catalog.product.update", float(second), 0.5)
    # Bookings at 1400..1999 are inside the window at 1999.9; the older ones are gone, not kept and skipped.
    assert len(operating.spent[("hook", "catalog.product.update")]) == OPERATING_WINDOW_S
    used, reset_at = operating.used("hook", "catalog.product.update", 1_999.9)
    assert used == 0.5 * OPERATING_WINDOW_S and reset_at == 1_400.0 + OPERATING_WINDOW_S
    assert operating.used("hook", "catalog.product.update", 1_999.0 + OPERATING_WINDOW_S) == (
        0.0,
        1_999.0 + 2 * OPERATING_WINDOW_S,
    )
    assert operating.used("hook", "sale.order.list", 10.0) == (0.0, 10.0 + OPERATING_WINDOW_S)


def test_a_booking_out_of_order_still_counts_only_inside_the_window() -> None:
    operating = OperatingTime()
    operating.book("hook", "m", 1_000.0, 2.0)
    operating.book("hook", "m", 100.0, 3.0)  # a clock set back by the control API
    assert operating.used("hook", "m", 1_000.0 + 1) == (2.0, 1_000.0 + OPERATING_WINDOW_S)
    assert operating.used("hook", "m", 650.0) == (5.0, 1_000.0 + OPERATING_WINDOW_S)
