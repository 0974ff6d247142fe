"""ddd-transfer: registration only. Each module holds one function and its NAME.

The settings are checked first: with settings it cannot run with, the app fails to load (the
host reports "Worker failed to index functions" with every bad setting named), instead of
failing at the first delivery. Then the process's C heap is bounded (`shared.copy.native_heap`)
before any activity's thread allocates.
"""

import azure.durable_functions as df
import azure.functions as func

from activities import (
    copy_chunk,
    create_folders,
    discard_cancelled_delivery,
    discard_partial_delivery,
    grant_access,
    measure_progress,
    move_source,
    notify_operators,
    plan_delivery,
    plan_dry_run,
    record_failures,
    report_to_website,
    seal_delivery,
    write_manifest,
)
from endpoints import (
    admin_cancel,
    admin_list,
    admin_resend,
    create_share,
    delivery_status,
    dry_run_status,
    openapi_document,
    operator_rules,
    project_summary,
    revoke_share,
    run_completed,
    share_status,
    start_delivery,
    start_dry_run,
    start_operator_delivery,
)
from orchestrators import cancel_delivery, delivery, dry_run, resend_callback
from shared.copy.native_heap import limit_malloc_arenas
from shared.core.config import load_settings

load_settings()
limit_malloc_arenas()

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

app.register_functions(start_delivery.bp)
app.register_functions(start_operator_delivery.bp)
app.register_functions(run_completed.bp)
app.register_functions(operator_rules.bp)
app.register_functions(delivery_status.bp)
app.register_functions(delivery.bp)
app.register_functions(plan_delivery.bp)
app.register_functions(copy_chunk.bp)
app.register_functions(measure_progress.bp)
app.register_functions(discard_partial_delivery.bp)
app.register_functions(record_failures.bp)
app.register_functions(create_folders.bp)
app.register_functions(write_manifest.bp)
app.register_functions(grant_access.bp)
app.register_functions(seal_delivery.bp)
app.register_functions(move_source.bp)
app.register_functions(report_to_website.bp)
# dry runs, the website's project summary, pull-mode shares
app.register_functions(start_dry_run.bp)
app.register_functions(dry_run_status.bp)
app.register_functions(dry_run.bp)
app.register_functions(plan_dry_run.bp)
app.register_functions(project_summary.bp)
app.register_functions(create_share.bp)
app.register_functions(share_status.bp)
app.register_functions(revoke_share.bp)
app.register_functions(notify_operators.bp)
# the operators' actions (admin key)
app.register_functions(admin_list.bp)
app.register_functions(admin_resend.bp)
app.register_functions(admin_cancel.bp)
app.register_functions(resend_callback.bp)
app.register_functions(cancel_delivery.bp)
app.register_functions(discard_cancelled_delivery.bp)
app.register_functions(openapi_document.bp)
