"""Labelled goods (Honest Sign): the codes the warehouse scanned at packing, checked, kept in the marking ledger and
written to the shop's shipment lines before the shipment is marked deducted, so the cashbox's receipt carries them.

* ``capture``: a picking order's codes and packages as reported at packing, kept on its part (no I/O);
* ``settle``: run by the apply job before it writes shipments: captured codes checked (one valid code per unit,
  the product's GTIN, no unit sold on another order) and recorded, then written to the shop; a problem holds the
  shipment and opens an incident;
* ``shop``: what the flow needs of the shop; ``bitrix_shop`` provides it over the companion module.
"""
