"""Activity: POST the delivery's result (manifest or error message) to the website."""

import azure.durable_functions as df

from shared.core.activities import Activity
from shared.core.config import load_settings
from shared.core.messages import ReportInput
from shared.core.models import ReportOutcome
from shared.operations.telemetry import logged_activity
from shared.website.report import report_result

NAME = Activity.REPORT_TO_WEBSITE.value
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="report_input")
@logged_activity("reporting")
def report_to_website(report_input: ReportInput) -> ReportOutcome:
    return report_result(report_input.request, report_input.run_id, report_input.error_message,
                         load_settings(), receiver=report_input.receiver)
