"""A local executor of compiled KFP pipelines, derived from the open-source backend's source.

kubeflow/pipelines `backend/src/v2/` at tag 2.5.0 (2.4.0 and 2.4.1 where they differ): the driver
(driver.py), the launcher (launcher.py), their ML Metadata client (metadata.py), the step
cache (cache.py) and the object store (object_store.py), run over a real MLMD library
behind gRPC, moto's S3 server and gcp-storage-emulator's GCS server on loopback
(services.py, cluster.py); run.py walks the root DAG. Used by tests/test_kfp_local*.py to
prove the compiled retrain pipeline runs.
"""
