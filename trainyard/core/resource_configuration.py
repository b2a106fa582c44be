"""ResourceConfiguration (Azure ML: azureml.core.resource_configuration): what one serving
replica of a model requests — RegisteredModel.spec.resources."""

from __future__ import annotations


class ResourceConfiguration:
    def __init__(self, cpu: float | None = None, memory_in_gb: float | None = None, gpu: int | None = None):
        self.cpu, self.memory_in_gb, self.gpu = cpu, memory_in_gb, gpu

    def _resources(self) -> dict | None:
        """Kubernetes quantities: cpu=1 -> "1", cpu=0.5 -> "500m", memory_in_gb=0.5 -> "512Mi"."""
        out = {}
        if self.cpu is not None:
            cpu = float(self.cpu)
            out["cpu"] = str(int(cpu)) if cpu.is_integer() else f"{round(cpu * 1000)}m"
        if self.memory_in_gb is not None:
            out["memory"] = f"{round(float(self.memory_in_gb) * 1024)}Mi"
        return out or None

    def serialize(self) -> dict:
        return {"cpu": self.cpu, "memoryInGB": self.memory_in_gb, "gpu": self.gpu}

    @staticmethod
    def deserialize(payload: dict) -> ResourceConfiguration:
        return ResourceConfiguration(payload.get("cpu"), payload.get("memoryInGB"), payload.get("gpu"))

    def __repr__(self) -> str:
        return f"ResourceConfiguration(cpu={self.cpu}, memory_in_gb={self.memory_in_gb})"
