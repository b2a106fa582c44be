"""ComputeCluster condition types and reasons — kept next to the schema in crds/.

A cluster's conditions describe its pool (Ready), what the scaler is doing (ScalingUp,
ScalingDown), whether demand is capped (AtMaxCapacity) and whether the provider that owns the
nodes answers (ProviderError). Each is always present, True or False, with a named reason.
"""

from __future__ import annotations

# ---- condition types ----------------------------------------------------------------------------
READY = "Ready"  # the provider answers and at least minNodes nodes are Ready
SCALING_UP = "ScalingUp"  # nodes are being added (desired > current, or nodes not Ready yet)
SCALING_DOWN = "ScalingDown"  # idle nodes are being removed
AT_MAX_CAPACITY = "AtMaxCapacity"  # queued runs do not fit and the pool is at maxNodes
PROVIDER_ERROR = "ProviderError"  # the provider failed to observe or scale the pool

# ---- reasons ------------------------------------------------------------------------------------
REASON_POOL_READY = "PoolReady"
REASON_WAITING_FOR_NODES = "WaitingForNodes"
REASON_DELETION_BLOCKED = "DeletionBlockedByRuns"
REASON_RECONCILE_ERROR = "ReconcileError"
REASON_QUEUED_DEMAND = "QueuedDemand"
REASON_BELOW_MIN_NODES = "BelowMinNodes"
REASON_NO_PENDING_DEMAND = "NoPendingDemand"
REASON_IDLE_NODES = "IdleNodes"
REASON_ABOVE_MAX_NODES = "AboveMaxNodes"
REASON_NO_IDLE_NODES = "NoIdleNodes"
REASON_MAX_NODES_REACHED = "MaxNodesReached"
REASON_BELOW_MAX_NODES = "BelowMaxNodes"
REASON_FIXED_POOL = "FixedPool"
REASON_PROVIDER_HEALTHY = "ProviderHealthy"
REASON_PROVIDER_FAILED = "ProviderFailed"
# why the scaling policy (operator/computecluster/scaling.py) holds the pool still; a decision's
# reason, not a condition's: ScalingDown=False says NoIdleNodes with the decision's message
REASON_SETTLING = "Settling"
REASON_COOLDOWN = "Cooldown"
REASON_STEADY = "Steady"

# ---- well-known labels, taints and annotations ---------------------------------------------------
LABEL_CLUSTER = "trainyard.dev/compute-cluster"  # on nodes a provider created for a cluster
LABEL_CLUSTER_NAMESPACE = "trainyard.dev/compute-namespace"
LABEL_INSTANCE_TYPE = "node.kubernetes.io/instance-type"
SPOT_TAINT_KEY = "trainyard.dev/spot"
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
