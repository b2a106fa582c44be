"""ComputeCluster: its handlers, its pass, the queue and scaling policy (pure), placement, providers."""
