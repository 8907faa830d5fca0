"""Wires the control plane together: store, tokens, hearings, SFU worker, Socket.IO, routes."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiortc import RTCIceServer

from livestream.clock import CourtClock
from livestream.sidecar import Livestream
from recorder.service import Recorder
from sfu import SfuConfig
from signaling import (
    accounts_api,
    admin_api,
    http_api,
    metrics,
    pages,
    recording_api,
    rooms,
    rooms_api,
    sfu_listeners,
    sites_api,
    stream_api,
    tap_openers,
    whip,
)
from signaling.config import Settings
from signaling.context import SERVICES, Services
from signaling.errors import error_middleware
from signaling.expiry import TokenExpiry
from signaling.hearings import HearingService
from signaling.moderation import Moderation
from signaling.negotiation import Negotiation
from signaling.outbox import Outbox
from signaling.presence import Presence
from signaling.registry import SessionRegistry
from signaling.remote_livestream import RemoteLivestream
from signaling.remote_recorder import RemoteRecorder
from signaling.sidecars import alarms_from
from signaling.socket_events import SocketEvents, create_server
from signaling.store import SqliteStore
from signaling.tokens import TokenService
from signaling.whip_sessions import WhipWhepSessions
from signaling.workers import LocalPool, Pool, WorkerPool

log = logging.getLogger("cloudcourt")


def sfu_config(settings: Settings) -> SfuConfig:
    return SfuConfig(
        # Always an explicit list: an empty one keeps aiortc off its public STUN default.
        ice_servers=[
            RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
            for s in settings.ice_servers
        ],
        ice_loopback=settings.ice_loopback,
    )


async def build_app(settings: Settings) -> web.Application:
    store = await SqliteStore.open(settings.db_path)
    tokens = TokenService(settings.jwt_secret, settings.token_ttl_seconds, store)
    hearings = HearingService(store, tokens)
    # --sfu-workers 0: the SFU in this process; N: N supervised worker processes (docs/SFU.md).
    pool: Pool = (
        WorkerPool(
            sfu_config(settings),
            settings.sfu_workers,
            heartbeat_timeout=settings.heartbeat_timeout,
        )
        if settings.sfu_workers
        else LocalPool(sfu_config(settings))
    )
    sio = create_server(settings.public_url)
    outbox = Outbox(sio)
    sessions = SessionRegistry(hearings, pool, outbox)
    presence = Presence(sessions, [s.to_json() for s in settings.ice_servers])
    server_metrics = metrics.Metrics(
        pool.stats, sessions.stats, pool.worker_stats, sessions.sidecars.stats
    )
    moderation = Moderation(sessions, presence, server_metrics.lobby_wait_seconds.observe)
    clock = CourtClock.named(settings.timezone)
    # The sidecars read each publication through a tap of the pool's kind (tap_openers.py).
    open_tap = tap_openers.opener(pool)
    recorder: recording_api.RecorderService
    if isinstance(pool, WorkerPool):
        # Served with worker processes, the recorder runs in its own (sidecar_processes.py).
        remote_recorder = RemoteRecorder(
            settings.data_dir,
            pool=pool,
            hearings=store.list_hearings,
            hearing=store.get_hearing,
            present=lambda: sfu_listeners.live_publications(sessions.all()),
            alarm=moderation.alarm,
            archive_jobs=settings.archive_jobs,
            timezone=settings.timezone,
        )
        sessions.sidecars.add(remote_recorder)
        recorder = remote_recorder
    else:
        local_recorder = Recorder(
            settings.data_dir,
            recording_api.alarm_sink(moderation),
            store.get_hearing,
            clock=clock,
            open_tap=open_tap,
            archive_jobs=settings.archive_jobs,
        )
        sessions.sidecars.add(local_recorder)
        recorder = local_recorder
    livestream: stream_api.StreamService
    remote_livestream: RemoteLivestream | None = None
    if isinstance(pool, WorkerPool):
        # And the public stream's compositor in its own (signaling/remote_livestream.py).
        remote_livestream = RemoteLivestream(
            settings.data_dir,
            delay=settings.broadcast_delay,
            timezone=settings.timezone,
            pool=pool,
            hearings=store.list_hearings,
            hearing=store.get_hearing,
            present=lambda: sfu_listeners.live_publications(sessions.all()),
            # Everyone's room, for a compositor that restarted (it never heard their moves).
            rooms=lambda: rooms.rooms_now(sessions.all()),
            alarm=moderation.alarm,
        )
        sessions.sidecars.add(remote_livestream)
        livestream = remote_livestream
    else:
        local_livestream = Livestream(
            settings.data_dir / "streams",
            settings.broadcast_delay,
            alarms_from("livestream", moderation.alarm),
            clock=clock,
            open_tap=open_tap,
        )
        sessions.sidecars.add(local_livestream)
        livestream = local_livestream

    # Timing outermost: it also sees the time the error middleware takes to answer.
    app = web.Application(
        middlewares=[metrics.timing_middleware, error_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SERVICES] = Services(
        settings=settings,
        store=store,
        tokens=tokens,
        hearings=hearings,
        sessions=sessions,
        presence=presence,
        moderation=moderation,
        whip_whep=WhipWhepSessions(sessions, presence),
        pool=pool,
        livestream=livestream,
    )
    sio.attach(app)
    SocketEvents(
        sio,
        sessions,
        presence,
        Negotiation(sessions),
        moderation,
        outbox,
        settings.max_event_bytes,
        settings.join_timeout,
    ).register()
    http_api.add_routes(app)
    admin_api.add_routes(app)
    whip.add_routes(app)
    metrics.add_routes(app, server_metrics)
    recording_api.add_routes(app, recorder)
    stream_api.add_routes(app)
    rooms_api.add_routes(app)
    pages.add_routes(app)
    # Disputes, their evidence and time limits, the routing ladder (docs/DISPUTES.md).
    from signaling import disputes_api

    disputes_api.add_routes(app, store, settings)
    # Signed documents: agreements, judicial confirmation, the signature chain (docs/SIGNING.md).
    from signaling import signing_api

    signing_api.add_routes(app, store)
    # A dispute's mediation sessions and hearing, the filing export (docs/MEDIATION.md,
    # docs/FILING.md). Imported here so the wiring stays one block of its own.
    from signaling import dispute_sessions, dispute_sessions_api, filing_api

    dispute_sessions_api.add_routes(app, dispute_sessions.DisputeSessions(app, hearings, store))
    filing_api.add_routes(app)
    # The court network's people, sites and kiosks (docs/NETWORK.md).
    accounts_api.install(app, store, settings.session_ttl_seconds)
    sites_api.install(app, store, settings.site_offline_after)

    async def start(app: web.Application) -> None:
        # Before the port opens (aiohttp listens after the startup hooks): /api/health answers
        # only once every worker is ready, and the recorder too unless it needs more than
        # START_WAIT (sidecar_processes.py). Spawned together: a process takes seconds to
        # import its modules on a loaded machine.
        hearings = await store.list_hearings()
        if remote_livestream is not None:
            await asyncio.gather(pool.start(), recorder.start(hearings), remote_livestream.launch())
        else:
            await asyncio.gather(pool.start(), recorder.start(hearings))
            local_livestream.recover(hearings)
        outbox.start()
        sessions.spawn(TokenExpiry(sessions, presence).run())

    async def shutdown(app: web.Application) -> None:
        # Disconnect sockets first so that aiohttp's shutdown does not wait on open websockets.
        await sessions.close()
        await outbox.close()
        await sessions.sidecars.close()

    async def cleanup(app: web.Application) -> None:
        try:
            await pool.close()
        finally:
            await store.close()

    app.on_startup.append(start)
    app.on_shutdown.append(shutdown)
    app.on_cleanup.append(cleanup)
    return app
