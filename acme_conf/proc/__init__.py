"""The processes of a run: the parent (scheduler, spawner, settings, process_group, reports, known_certificates,
progress, preflight, access_drift, renewal_outlook, run_log, status_view, status_report) and one module per child role."""
