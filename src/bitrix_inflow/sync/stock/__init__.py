"""Stock sync: warehouse stock → the shop's quantities (``read`` → ``plan`` → ``write``, run by ``flow``)."""
