"""The control plane (`/_sandbox`): its handlers, who may use it, the journal and the faults."""
