"""Batch assignments: start one for a cohort, poll its progress, fetch the result (JSON, CSV or Excel), cancel it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import PlainTextResponse, Response

from matching.batch import AssignmentOptions
from service.auth import ApiPrincipal, Principal, authorize, who_of
from service.batch import BatchRunner, result_csv, result_xlsx
from service.db import BatchJob
from service.paging import Page
from service.schemas import BatchCreate, BatchJobList, BatchJobPublic, BatchResult


async def staff_only(principal: ApiPrincipal) -> Principal:
    """Dependency: batch jobs are for programme staff."""
    authorize(principal, "batch")
    return principal


router = APIRouter(prefix="/batch", tags=["batch"], dependencies=[Depends(staff_only)])

JobId = Annotated[str, Path(min_length=1, max_length=64, description="the job's id")]


def runner(request: Request) -> BatchRunner:
    """The app's batch runner."""
    return request.app.state.batch


def public(job: BatchJob) -> BatchJobPublic:
    """The response body of a job."""
    return BatchJobPublic(
        id=job.id,
        status=job.status,  # type: ignore[arg-type]
        progress=min(1.0, max(0.0, job.progress)),
        message=job.message,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        summary=(job.result or {}).get("summary") if job.status == "done" else None,
    )


@router.post(
    "",
    response_model=BatchJobPublic,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a batch assignment in the background",
)
def start_batch(request: Request, principal: ApiPrincipal, body: BatchCreate) -> BatchJobPublic:
    o = body.options
    options = AssignmentOptions(
        mode=o.mode,
        top_k=o.top_k,
        capacity=o.capacity,
        min_score=o.min_score,
        one_per_country=o.one_per_country,
        min_partners=o.min_partners,
        forced_pairs=tuple(tuple(p) for p in o.forced_pairs),  # type: ignore[arg-type]
        forbidden_pairs=tuple(tuple(p) for p in o.forbidden_pairs),  # type: ignore[arg-type]
        countries=tuple(c.strip().upper() for c in o.countries),
        phases=tuple(o.phases),
        max_timezone_difference=o.max_timezone_difference,
        explain=o.explain,
        progress=False,
    )
    job = runner(request).start(body.cohort, options, body.model_dump(mode="json"), who_of(request, principal))
    return public(job)


@router.get("", response_model=BatchJobList, summary="Batch jobs, newest first")
def list_batches(
    request: Request,
    page: Page,
) -> BatchJobList:
    jobs, total = runner(request).list(page.offset, page.limit)
    return BatchJobList(items=[public(j) for j in jobs], total=total, offset=page.offset, limit=page.limit)


@router.get("/{job_id}", response_model=BatchJobPublic, summary="A job's status and progress")
def read_batch(request: Request, job_id: JobId) -> BatchJobPublic:
    return public(runner(request).get(job_id))


@router.get(
    "/{job_id}/result",
    response_model=BatchResult,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    summary="The result of a finished job, as JSON or CSV (partnerships or unmatched)",
)
def batch_result(
    request: Request,
    job_id: JobId,
    format: Annotated[Literal["json", "csv"], Query(description="json, or csv for one table")] = "json",
    table: Annotated[Literal["partnerships", "unmatched"], Query(description="the table a CSV holds")] = "partnerships",
) -> BatchResult | PlainTextResponse:
    result = runner(request).result(job_id)
    if format == "csv":
        return PlainTextResponse(result_csv(result, table), media_type="text/csv")
    return BatchResult(**result)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "/{job_id}/result.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}},
    summary="The result of a finished job as an Excel workbook (partnerships, unmatched with reasons, summary)",
)
def batch_result_xlsx(request: Request, job_id: JobId) -> Response:
    data = result_xlsx(runner(request).result(job_id))
    headers = {"Content-Disposition": f'attachment; filename="batch-{job_id}.xlsx"'}
    return Response(data, media_type=XLSX, headers=headers)


@router.post("/{job_id}/cancel", response_model=BatchJobPublic, summary="Cancel a queued or running job")
def cancel_batch(request: Request, principal: ApiPrincipal, job_id: JobId) -> BatchJobPublic:
    return public(runner(request).cancel(job_id, who_of(request, principal)))
