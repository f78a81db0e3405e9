# The rebalance scenario of test_rebalance.sh with the state file locked by another process
# while the second instance joins: the first cannot checkpoint before it gives partitions up.
REVOKE_BUSY=1
. "$ROOT/tests/integration/test_rebalance.sh"
