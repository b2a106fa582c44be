"""The trainyard model server (`trainyard serve`): Azure ML /score, KServe V1 and Open Inference Protocol V2."""
