"""What runs inside a compiled Kubeflow step: the entrypoint on the KFP driver/launcher contract, object-store mirrors,
executors that take an unresolved input as none, the `epochs` runtime parameter, span-resolving ExampleGen and its probe."""
