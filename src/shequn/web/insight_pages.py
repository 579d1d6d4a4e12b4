"""When members are active and when to post: the heatmap page, within the staff's scope."""

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response

from shequn.analytics.heatmap import HEATMAP_COLUMNS
from shequn.analytics.insights import table_heatmap
from shequn.analytics.roi import ROI_COLUMNS, report_roi
from shequn.analytics.rules import RangeError, days_of, parse_day
from shequn.api import shequn_of
from shequn.web.charts import heatmap_svg
from shequn.web.common import (
    Signed,
    csv_response,
    page,
    require,
    today_of,
    visible_group,
    visible_groups,
)
from shequn.web.i18n import translator, weekday_names
from shequn.web.rules import Permission

router = APIRouter()
DEFAULT_DAYS = 28


def range_of(since: str, until: str, today: date) -> tuple[date, date]:
    """The asked range, or the last 28 days; a bad one is a 400 naming the field."""
    try:
        last = parse_day("to", until) if until else today
        first = parse_day("from", since) if since else last - timedelta(days=DEFAULT_DAYS - 1)
        days_of(first, last)
    except RangeError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    return first, last


@router.get("/dashboard/heatmap", response_model=None)
def heatmap_page(
    request: Request,
    visit: Signed,
    since: Annotated[str, Query(alias="from")] = "",
    until: Annotated[str, Query(alias="to")] = "",
    group: str = "",
    format: str = "html",
) -> Response:
    require(visit, Permission.VIEW_FIGURES)
    staff = visit.staff
    with shequn_of(request).sessions() as session:
        if group and visible_group(session, staff, group) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"group {group!r} not found")
        first, last = range_of(since, until, today_of(session, staff.org))
        scope = None if staff.is_org_wide else set(visible_groups(session, staff))
        heatmap = table_heatmap(session, staff.org, first=first, last=last,
                                 group=group or None, groups=scope)  # fmt: skip
    if format == "json":
        return JSONResponse(heatmap.as_json())
    if format == "csv":
        return csv_response(f"heatmap-{first}-{last}.csv", HEATMAP_COLUMNS,
                            [cell.as_json() for cell in heatmap.cells])  # fmt: skip
    t = translator(visit.lang)
    names = weekday_names(visit.lang)
    return page(request, "heatmap.html", lang=visit.lang, visit=visit,
                chart=heatmap_svg(heatmap, title=t("heatmap"), weekdays=names),
                best=heatmap.best_times(), by_weekday=heatmap.best_by_weekday(),
                weekdays=names, first=first, last=last, group=group,
                total=heatmap.total)  # fmt: skip


@router.get("/dashboard/roi", response_model=None)
def roi_page(request: Request, visit: Signed, format: str = "html") -> Response:
    """Each campaign's net attributed GMV against what it gave away."""
    require(visit, Permission.VIEW_FIGURES)
    staff = visit.staff
    with shequn_of(request).sessions() as session:
        scope = None if staff.is_org_wide else set(visible_groups(session, staff))
        rows = [found.as_json() for found in report_roi(session, staff.org, groups=scope)]
    if format == "json":
        return JSONResponse(rows)
    if format == "csv":
        return csv_response("campaign-roi.csv", ROI_COLUMNS, rows)
    return page(request, "roi.html", lang=visit.lang, visit=visit, rows=rows)
