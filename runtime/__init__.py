"""What runs inside pods (imported as ``trainyard.runtime``): staging, the runner, the SDK and the
model server. Never imports ``trainyard.operator``."""
