"""Chaos runs: prove that a pay run under injected faults and redrives paid exactly once.

``chaos.runner`` drives a pay run on the local cloud while faults are injected
(``local.faults``: crashed and duplicated deliveries, lost task-token answers, AWS
throttling, payment provider errors and timeouts) and redrives what failed;
``chaos.invariants`` then reads every record that can testify (the payment provider's
own record, the ledger, the status tables, the dead-letter queues, the completion
notices) and checks that nobody was paid twice, nobody was skipped without a dead letter
saying why, every amount paid was the committed net pay, and no year to date was
counted twice.
"""
