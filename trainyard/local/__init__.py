"""A throwaway local cluster built from upstream sources (`trainyard local`)."""
