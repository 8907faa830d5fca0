"""The OpenAPI 3 document served at /api/openapi.json (kept next to the routes it describes)."""

from __future__ import annotations

from typing import Any

from signaling import __version__
from signaling.live_state import MAX_WHEPS_PER_PARTICIPANT
from signaling.roles import ROLE_NAMES


def _json(schema_ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


def _error(description: str) -> dict[str, Any]:
    return _json("Error", description)


_ID = {"name": "hearing_id", "in": "path", "required": True, "schema": {"type": "string"}}
_PID = {"name": "participant_id", "in": "path", "required": True, "schema": {"type": "string"}}
_RID = {"name": "resource_id", "in": "path", "required": True, "schema": {"type": "string"}}
_SDP_BODY = {"required": True, "content": {"application/sdp": {"schema": {"type": "string"}}}}
_SDP_ANSWER = {
    "description": "session created; the body is the SDP answer",
    "headers": {
        "Location": {
            "schema": {"type": "string"},
            "description": "the session URL (DELETE ends it)",
        },
        "ETag": {"schema": {"type": "string"}},
    },
    "content": {"application/sdp": {"schema": {"type": "string"}}},
}
_MODERATOR = [{"adminKey": []}, {"participantToken": []}]
_COMMON = {
    "400": _error("malformed JSON or a missing/invalid field"),
    "401": _error(
        "missing, invalid, expired or revoked credentials, or a token of another hearing"
    ),
    "403": _error("the credentials do not carry the needed grant"),
    "404": _error("unknown hearing or participant"),
}


def _sdp_paths(
    kind: str, summary: str, *query: dict[str, Any], conflict: str = "the hearing has ended"
) -> dict[str, Any]:
    """The two paths of a WHIP or WHEP endpoint (``kind`` "whip" or "whep"): POST an SDP offer to
    create a session, DELETE the session's URL to end it."""
    name = kind.upper()
    return {
        f"/{kind}/{{hearing_id}}": {
            "post": {
                "summary": summary,
                "security": [{"participantToken": []}],
                "parameters": [_ID, *query],
                "requestBody": _SDP_BODY,
                "responses": {
                    "201": _SDP_ANSWER,
                    "409": _error(conflict),
                    "413": _error("SDP larger than 64 KiB"),
                    "415": _error("Content-Type is not application/sdp"),
                    **_COMMON,
                },
            },
            "options": {
                "summary": f"{name} capabilities",
                "parameters": [_ID],
                "responses": {"204": {"description": "Accept-Post: application/sdp"}},
            },
        },
        f"/{kind}/{{hearing_id}}/{{resource_id}}": {
            "delete": {
                "summary": f"end a {name} session",
                "parameters": [_ID, _RID],
                "responses": {
                    "200": {"description": "ended"},
                    "404": _error("no such session"),
                },
            }
        },
    }


def _stream_schemas() -> dict[str, Any]:
    """Public streams and the catalog (signaling/stream_api.py, docs/LIVESTREAM.md)."""
    text = {"type": "string"}
    maybe_text = {"type": "string", "nullable": True}
    return {
        "LiveState": {
            "type": "object",
            "properties": {
                "hearing_id": text,
                "live": {"type": "boolean"},
                "delay_seconds": {"type": "number"},
                "playlist_url": text,
                "discarded_segments": {"type": "integer", "description": "stop only"},
            },
        },
        "CatalogItem": {
            "type": "object",
            "properties": {
                "id": text,
                "case_number": text,
                "title": text,
                "court": text,
                "case_type": text,
                "status": {"type": "string", "enum": ["live", "upcoming", "vod"]},
                "scheduled_at": text,
                "started_at": maybe_text,
                "ended_at": maybe_text,
                "duration": {"type": "number", "nullable": True},
                "playlist_url": maybe_text,
                "poster_url": maybe_text,
            },
        },
        "Catalog": {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/CatalogItem"}},
                "total": {"type": "integer"},
            },
        },
    }


def _stream_paths() -> dict[str, Any]:
    def live(done: str, summary: str) -> dict[str, Any]:
        return {
            "post": {
                "summary": summary,
                "security": _MODERATOR,
                "parameters": [_ID],
                "responses": {
                    "200": _json("LiveState", done),
                    "403": _error("not a moderator of the hearing, or the hearing is not public"),
                    "409": _error("the hearing has ended"),
                    **{k: v for k, v in _COMMON.items() if k != "403"},
                },
            }
        }

    def query(name: str, description: str, schema: dict[str, Any] | None = None):
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": schema or {"type": "string"},
        }

    def hls(prefix: str) -> dict[str, Any]:
        return {
            "get": {
                "summary": f"{prefix} HLS: index.m3u8 (master), high.m3u8, low.m3u8, "
                "segNNNNNN.ts, segNNNNNN-low.ts, poster.jpg (public hearings "
                "only; anything else is 404)",
                "parameters": [
                    _ID,
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "the file"}, "404": _error("no such file")},
            }
        }

    return {
        "/api/hearings/{hearing_id}/live": {
            "get": {
                "summary": "the public stream's state, for the judge console",
                "security": _MODERATOR,
                "parameters": [_ID],
                "responses": {"200": _json("LiveState", "state"), **_COMMON},
            }
        },
        "/api/hearings/{hearing_id}/live/start": live(
            "on air", "put the public hearing on air (after the broadcast delay)"
        ),
        "/api/hearings/{hearing_id}/live/stop": live(
            "off air", "take it off air now; segments not yet public are deleted"
        ),
        "/api/hearings/{hearing_id}/participants/{participant_id}/mask": {
            "post": {
                "summary": "mask (or unmask) a participant's picture in the public stream",
                "security": _MODERATOR,
                "parameters": [_ID, _PID],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"masked": {"type": "boolean", "default": True}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": {"description": "{participant_id, masked}"},
                    "409": _error("the hearing has ended"),
                    **_COMMON,
                },
            }
        },
        "/api/catalog": {
            "get": {
                "summary": "public hearings: live, upcoming, on demand",
                "parameters": [
                    query("status", "live | upcoming | vod"),
                    query("court", "exact court name"),
                    query("case_type", "exact case type"),
                    query("date_from", "YYYY-MM-DD (China time) or date-time with offset"),
                    query("date_to", "YYYY-MM-DD (inclusive) or date-time with offset"),
                    query("q", "text in case number, title or court"),
                    query("limit", "1..100, default 20", {"type": "integer"}),
                    query("offset", "0..1000000, default 0", {"type": "integer"}),
                ],
                "responses": {
                    "200": _json("Catalog", "one page of the catalog"),
                    "400": _error("an unknown parameter or a bad value"),
                },
            }
        },
        "/live/{hearing_id}/{name}": hls("live"),
        "/vod/{hearing_id}/{name}": hls("on-demand"),
    }


def _recording_paths() -> dict[str, Any]:
    """The recorder's routes (signaling/recording_api.py; docs/API.md "Recordings")."""
    court_only = {**_COMMON, "409": _error("not recorded, or already paused/running")}
    reason = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["reason"],
                    "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 500}},
                }
            }
        },
    }
    state = {
        "description": "the manifest entry written",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "/api/hearings/{hearing_id}/recordings": {
            "get": {
                "summary": "the hearing's recording: track summaries, archive, chain head, state",
                "security": _MODERATOR,
                "parameters": [_ID],
                "responses": {
                    "200": {
                        "description": "the recording",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **_COMMON,
                },
            }
        },
        "/api/hearings/{hearing_id}/recordings/state": {
            "get": {
                "summary": "the recording's state, duration, counters, chain head, pause, archive "
                "(light: what the judge console polls)",
                "security": _MODERATOR,
                "parameters": [_ID],
                "responses": {
                    "200": {
                        "description": "the recording's state",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **_COMMON,
                },
            }
        },
        "/api/hearings/{hearing_id}/recordings/tracks/{track}/segments": {
            "get": {
                "summary": "one page of a track's sealed segments (offset, limit 1-1000)",
                "security": _MODERATOR,
                "parameters": [
                    _ID,
                    {"name": "track", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "the page: total, segments, next (URL or null)",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **_COMMON,
                },
            }
        },
        "/api/hearings/{hearing_id}/recordings/files/{name}": {
            "get": {
                "summary": "download a sealed segment, the manifest or the archive (HTTP Range)",
                "security": _MODERATOR,
                "parameters": [_ID, name],
                "responses": {
                    "200": {"description": "the file"},
                    "206": {"description": "the requested range"},
                    **_COMMON,
                },
            }
        },
        **{
            f"/api/hearings/{{hearing_id}}/recording/{action}": {
                "post": {
                    "summary": f"{action} the recording, with a reason (logged in the manifest)",
                    "security": _MODERATOR,
                    "parameters": [_ID],
                    "requestBody": reason,
                    "responses": {"200": state, **court_only},
                }
            }
            for action in ("pause", "resume")
        },
    }


def openapi_document(server_url: str) -> dict[str, Any]:
    text200 = {"type": "string", "minLength": 1, "maxLength": 200}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Cloud Court (云法庭) API",
            "version": __version__,
            "description": "Hearings, participant tokens, moderation, WHIP ingest and WHEP "
            'playback. Every error is JSON {"error": "..."}. See docs/API.md.',
        },
        "servers": [{"url": server_url}],
        "components": {
            "securitySchemes": {
                "adminKey": {"type": "http", "scheme": "bearer", "description": "the admin key"},
                "participantToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "a participant token of the hearing",
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
                "Health": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "status": {"type": "string", "enum": ["ok"]},
                        "version": {"type": "string"},
                        "uptime_seconds": {"type": "number"},
                        "live_hearings": {"type": "integer"},
                        "sockets": {"type": "integer"},
                    },
                },
                "NewHearing": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": list(
                        ("case_number", "title", "court", "case_type", "public", "scheduled_at")
                    ),
                    "properties": {
                        "case_number": text200,
                        "title": text200,
                        "court": text200,
                        "case_type": text200,
                        "public": {"type": "boolean"},
                        "scheduled_at": {"type": "string", "format": "date-time"},
                    },
                },
                "Hearing": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "case_number": {"type": "string"},
                        "title": {"type": "string"},
                        "court": {"type": "string"},
                        "case_type": {"type": "string"},
                        "public": {"type": "boolean"},
                        "scheduled_at": {"type": "string", "format": "date-time"},
                        "state": {
                            "type": "string",
                            "enum": ["scheduled", "open", "in_session", "ended"],
                        },
                        "created_at": {"type": "string", "format": "date-time"},
                        "updated_at": {"type": "string", "format": "date-time"},
                        "started_at": {"type": "string", "format": "date-time", "nullable": True},
                        "ended_at": {"type": "string", "format": "date-time", "nullable": True},
                    },
                },
                **_stream_schemas(),
                "HearingList": {
                    "type": "object",
                    "properties": {
                        "hearings": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Hearing"},
                        }
                    },
                },
                "TokenRequest": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["role", "name"],
                    "properties": {
                        "role": {"type": "string", "enum": list(ROLE_NAMES)},
                        "name": {"type": "string", "minLength": 1, "maxLength": 100},
                        "admitted": {"type": "boolean", "default": False},
                        "masked": {"type": "boolean", "default": False},
                        "site": {"type": "string", "minLength": 1, "maxLength": 100},
                    },
                },
                "IssuedToken": {
                    "type": "object",
                    "properties": {
                        "token": {"type": "string"},
                        "participant_id": {"type": "string"},
                        "role": {"type": "string"},
                        "name": {"type": "string"},
                        "admitted": {"type": "boolean"},
                        "site": {"type": "string", "nullable": True},
                        "masked": {"type": "boolean"},
                        "expires_at": {"type": "string", "format": "date-time"},
                        "join_url": {"type": "string", "format": "uri"},
                        "whip_url": {"type": "string", "format": "uri"},
                        "whep_url": {"type": "string", "format": "uri"},
                    },
                },
                "Participant": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "role": {"type": "string", "enum": list(ROLE_NAMES)},
                        "state": {
                            "type": "string",
                            "enum": ["lobby", "admitted", "left", "removed"],
                        },
                        "site": {"type": "string", "nullable": True},
                        "muted": {
                            "type": "object",
                            "properties": {
                                "audio": {"type": "boolean"},
                                "video": {"type": "boolean"},
                            },
                        },
                    },
                },
                "ParticipantReply": {
                    "type": "object",
                    "properties": {"participant": {"$ref": "#/components/schemas/Participant"}},
                },
            },
        },
        "paths": {
            "/api/health": {
                "get": {
                    "summary": "liveness",
                    "responses": {"200": _json("Health", "the server is up")},
                }
            },
            "/api/openapi.json": {
                "get": {"summary": "this document", "responses": {"200": {"description": "OK"}}}
            },
            "/api/hearings": {
                "post": {
                    "summary": "schedule a hearing",
                    "security": [{"adminKey": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/NewHearing"}
                            }
                        },
                    },
                    "responses": {
                        "201": _json("Hearing", "created"),
                        "413": _error("body larger than 1 MiB"),
                        **_COMMON,
                    },
                },
                "get": {
                    "summary": "list hearings (public ones only, unless the admin key is given)",
                    "security": [{}, {"adminKey": []}],
                    "responses": {"200": _json("HearingList", "the hearings"), **_COMMON},
                },
            },
            "/api/hearings/{hearing_id}": {
                "get": {
                    "summary": "one hearing (not public: admin key or a token of the hearing)",
                    "security": [{}, {"adminKey": []}, {"participantToken": []}],
                    "parameters": [_ID],
                    "responses": {"200": _json("Hearing", "the hearing"), **_COMMON},
                }
            },
            "/api/hearings/{hearing_id}/tokens": {
                "post": {
                    "summary": "add a participant and issue its token",
                    "security": _MODERATOR,
                    "parameters": [_ID],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/TokenRequest"}
                            }
                        },
                    },
                    "responses": {
                        "201": _json("IssuedToken", "issued"),
                        "409": _error("the hearing has ended"),
                        **_COMMON,
                    },
                }
            },
            "/api/hearings/{hearing_id}/participants/{participant_id}/admit": {
                "post": {
                    "summary": "admit a participant from the lobby (or before they arrive)",
                    "security": _MODERATOR,
                    "parameters": [_ID, _PID],
                    "responses": {
                        "200": _json("ParticipantReply", "admitted"),
                        "409": _error("the participant was removed, or the hearing has ended"),
                        **_COMMON,
                    },
                }
            },
            "/api/hearings/{hearing_id}/participants/{participant_id}/remove": {
                "post": {
                    "summary": "remove a participant; their token stops working",
                    "security": _MODERATOR,
                    "parameters": [_ID, _PID],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"reason": {"type": "string"}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json("ParticipantReply", "removed"),
                        "409": _error("the hearing has ended"),
                        **_COMMON,
                    },
                }
            },
            "/api/hearings/{hearing_id}/end": {
                "post": {
                    "summary": "end the hearing; everyone is disconnected",
                    "security": _MODERATOR,
                    "parameters": [_ID],
                    "responses": {
                        "200": _json("Hearing", "ended"),
                        "409": _error("the hearing has already ended"),
                        **_COMMON,
                    },
                }
            },
            **_stream_paths(),
            **_recording_paths(),
            **_sdp_paths("whip", "WHIP publish (RFC 9725)"),
            **_sdp_paths(
                "whep",
                "WHEP playback of one participant (default: the judge)",
                {
                    "name": "participant",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                },
                conflict="the hearing has ended, or the participant already has "
                f"{MAX_WHEPS_PER_PARTICIPANT} playbacks",
            ),
        },
    }
