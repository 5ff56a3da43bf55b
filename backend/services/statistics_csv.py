"""The centre's statistics (`backend.services.statistics`) as CSV for Excel: one section per table, Chinese headers,
the definitions first, and no personal data (there is none in the report)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from typing import Any

from backend.catalog.schema import Catalog
from backend.services.statistics import (
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    PERCENTILE,
    DepartmentOverdue,
    Distribution,
    Report,
    TicketWaits,
)

WAIT_HEADER = ["取号数", "过号数", "已叫号数", "平均等候(分钟)", "P90等候(分钟)"]

_Section = tuple[str, list[str], list[list[Any]]]


def _decimal(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _percent(share: float | None) -> str:
    return "" if share is None else f"{share * 100:.1f}"


def _measured(d: Distribution) -> list[Any]:
    return [d.count, _decimal(d.mean), _decimal(d.p90)]


def _waits(w: TicketWaits) -> list[Any]:
    return [w.issued, w.no_shows, *_measured(w.waited)]


def _late(o: DepartmentOverdue) -> list[Any]:
    oldest = o.oldest_deadline.isoformat() if o.oldest_deadline else ""
    return [o.open_overdue, o.awaiting_correction, oldest, o.completed_with_deadline, o.completed_late]


def _sections(report: Report, item_names: Mapping[str, str]) -> Iterator[_Section]:
    period, filed, rate, queue = report.period, report.filed, report.immediate, report.queue
    yield (
        "统计说明",
        ["项目", "内容"],
        [
            ["统计期间", f"{period.first.isoformat()} 至 {period.last.isoformat()}（{period.zone.key} 当地日）"],
            ["在办逾期截至", report.overdue.today.isoformat()],
            ["即办件占比", "期内受理的办件中即办件所占比例"],
            ["即办率", "期内办结的即办件中，受理当日（当地日）办结的比例"],
            ["P90", f"最近秩法：升序排列第 ⌈{PERCENTILE}%×n⌉ 个值"],
        ],
    )
    yield (
        "受理量·按事项",
        ["事项编码", "事项名称", "件数"],
        [[i, item_names.get(i, i), n] for i, n in filed.by_item.items()],
    )
    yield "受理量·按部门", ["部门", "件数"], [[d, n] for d, n in filed.by_department.items()]
    yield "受理量·按渠道", ["渠道", "件数"], [[CHANNEL_LABELS.get(c, c), n] for c, n in filed.by_channel.items()]
    yield "受理量·按日", ["日期", "件数"], [[day.isoformat(), n] for day, n in filed.by_day.items()]
    shares = [rate.filed, rate.filed_immediate, _percent(rate.share)]
    rates = [rate.completed, rate.completed_same_day, _percent(rate.rate)]
    yield (
        "即办",
        ["受理件数", "即办件数", "即办件占比(%)", "办结即办件数", "当日办结件数", "即办率(%)"],
        [shares + rates],
    )
    handling = [["全部", *_measured(report.handling.overall)]]
    handling += [[d, *_measured(m)] for d, m in report.handling.by_department.items()]
    yield "办理时长（受理至办结）", ["部门", "办结件数", "平均(小时)", "P90(小时)"], handling
    yield (
        "逾期",
        ["部门", "在办逾期件数", "其中待补正", "最早办结期限", "期内办结承诺件数", "超期办结件数"],
        [[d, *_late(o)] for d, o in report.overdue.by_department.items()],
    )
    by_category = [["全部", *_waits(queue.overall)]]
    by_category += [[CATEGORY_LABELS.get(c, c), *_waits(w)] for c, w in queue.by_category.items()]
    yield "叫号等候·按类别", ["类别", *WAIT_HEADER], by_category
    yield "叫号等候·按日", ["日期", *WAIT_HEADER], [[day.isoformat(), *_waits(w)] for day, w in queue.by_day.items()]


def to_csv(report: Report, catalog: Catalog | None = None) -> str:
    """The report as CSV text for Excel: a byte-order mark first (encode the text as UTF-8; without it Excel reads
    Chinese as ANSI), then per table its title in 【】, a header row, its rows and an empty line. Item names come
    from ``catalog`` (the id alone without one); numbers are plain, percentages in per cent, durations 2 decimals."""
    item_names = {item.id: item.name for item in catalog.items} if catalog else {}
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    for title, header, rows in _sections(report, item_names):
        writer.writerow([f"【{title}】"])
        writer.writerow(header)
        writer.writerows(rows)
        writer.writerow([])
    return out.getvalue()
