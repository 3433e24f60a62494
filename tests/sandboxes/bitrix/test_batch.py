"""``batch`` (reference §1.7): references, halt, per-command errors, the 50-command cap, PHP array shapes."""

from __future__ import annotations

from typing import Any

from bitrix_inflow.sandboxes.bitrix import RunningSandbox


def test_documented_example_with_a_result_reference(shop: RunningSandbox, rest: Any, place: Any) -> None:
    order = place(shop, (1, 1), (2, 2), shipments=[{"deliveryId": 2, "lines": [0, 1]}])
    body = rest.ok(
        "batch",
        {
            "halt": 0,
            "cmd": {
                "o": f"sale.order.get?id={order['id']}",
                "sh": "sale.shipment.list?filter[orderId]=$result[o][order][id]"
                "&select[]=id&select[]=statusId",
            },
        },
    )
    batch = body["result"]
    assert batch["result"]["sh"] == {"shipments": [{"id": order["shipments"][0]["id"], "statusId": "DN"}]}
    assert batch["result"]["o"]["order"]["id"] == order["id"]
    assert batch["result_error"] == []
    assert batch["result_total"] == {"sh": 1}
    assert batch["result_next"] == []
    assert set(batch["result_time"]) == {"o", "sh"}
    assert set(batch["result_time"]["o"]) >= {"start", "finish", "duration", "processing", "date_start"}
    assert "time" in body


def test_failed_command_goes_to_result_error_and_batch_stays_200(rest: Any) -> None:
    body = rest.ok(
        "batch", {"cmd": {"bad": "sale.order.get?id=987654", "ok": "sale.status.list?select[]=id"}}
    )
    batch = body["result"]
    assert batch["result_error"] == {
        "bad": {"error": 200540400001, "error_description": "order is not exists"}
    }
    assert "ok" in batch["result"]


def test_halt_stops_after_the_first_error(rest: Any) -> None:
    cmd = {"a": "sale.status.list", "b": "sale.order.get?id=987654", "c": "sale.status.list"}
    halted = rest.ok("batch", {"halt": 1, "cmd": cmd})["result"]
    assert list(halted["result"]) == ["a"]
    assert list(halted["result_error"]) == ["b"]
    going_on = rest.ok("batch", {"halt": "false", "cmd": cmd})["result"]
    assert list(going_on["result"]) == ["a", "c"]


def test_more_than_50_commands_each_extra_one_fails(rest: Any) -> None:
    cmd = {f"c{i}": "server.time" for i in range(53)}
    batch = rest.ok("batch", {"cmd": cmd})["result"]
    assert len(batch["result"]) == 50
    assert set(batch["result_error"]) == {"c50", "c51", "c52"}
    assert batch["result_error"]["c50"]["error"] == "ERROR_BATCH_LENGTH_EXCEEDED"


def test_nested_batch_and_unknown_methods_are_refused_per_command(rest: Any) -> None:
    batch = rest.ok("batch", {"cmd": {"n": "batch?cmd[x]=server.time", "u": "no.such.method"}})["result"]
    assert batch["result_error"]["n"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"
    assert batch["result_error"]["u"]["error"] == "ERROR_METHOD_NOT_FOUND"
    assert batch["result"] == []


def test_list_shaped_cmd_gives_list_shaped_results(rest: Any) -> None:
    batch = rest.ok("batch", {"cmd": ["sale.status.list?start=0", "sale.status.list?start=50"]})["result"]
    assert isinstance(batch["result"], list)
    assert isinstance(batch["result_total"], list)
    numbered = rest.ok("batch", {"cmd": {"0": "server.time", "1": "server.time"}})["result"]
    assert isinstance(numbered["result"], list)  # PHP turns "0","1" keys into a JSON list


def test_partial_path_uses_the_value_reached_so_far(shop: RunningSandbox, rest: Any, place: Any) -> None:
    order = place(shop, (5, 1))
    batch = rest.ok(
        "batch",
        {
            "cmd": {
                "o": f"sale.order.list?filter[id]={order['id']}&select[]=id&select[]=comments",
                # orders[7] does not exist, so the reference resolves to the orders list -> spliced as text
                "u": f"sale.order.update?id={order['id']}&fields[comments]=seen $result[o][orders][0][id]/"
                "$total[o]/$result[o][missing]",
            }
        },
    )["result"]
    comment = batch["result"]["u"]["order"]["comments"]
    assert comment.startswith(f"seen {order['id']}/1/")


def test_id_cursor_chain_like_b24pysdk_as_list_fast(shop: RunningSandbox, rest: Any) -> None:
    total = len(shop.control.entities("orders"))
    cmd = {
        "1": "sale.order.list?order[id]=ASC&start=-1&select[]=id",
        "2": "sale.order.list?filter[%3Eid]=%24result%5B1%5D%5Borders%5D%5B49%5D%5Bid%5D"
        "&order[id]=ASC&start=-1",
    }
    batch = rest.ok("batch", {"halt": True, "cmd": cmd})["result"]
    assert batch["result_error"] == []
    first = (
        batch["result"]["1"]["orders"] if isinstance(batch["result"], dict) else batch["result"][0]["orders"]
    )
    assert len(first) == min(total, 50)


def test_form_encoded_batch_with_double_encoding(shop: RunningSandbox, rest: Any) -> None:
    # In form transport the command strings are encoded twice: "&" inside a command is %26 -> %2526.
    body = "halt=0&cmd[a]=sale.status.list%3Ffilter%5Bid%5D%3DN%26select%5B%5D%3Did"
    response = rest.http.post(
        shop.webhook_url + "batch",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert response.json()["result"]["result"]["a"] == {"statuses": [{"id": "N"}]}


def test_extra_client_params_are_ignored_in_commands(shop: RunningSandbox, rest: Any, place: Any) -> None:
    order = place(shop, (6, 1))
    cmd = {
        "order0000000000": f"sale.order.update?__order=order0000000000&id={order['id']}&fields[statusId]=P&"
    }
    batch = rest.ok("batch", {"halt": 0, "cmd": cmd})["result"]
    assert batch["result"]["order0000000000"]["order"]["statusId"] == "P"
