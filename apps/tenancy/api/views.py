from __future__ import annotations

from datetime import timedelta
from typing import Any, NoReturn

from django.conf import settings
from django.contrib.auth import login, logout
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils import timezone
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, Throttled, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.viewsets import TeamScopedViewSet
from apps.tenancy import services
from apps.tenancy.api.serializers import (
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    IssuedTokenSerializer,
    LoginSerializer,
    MeSerializer,
    TeamSerializer,
)
from apps.tenancy.models import ApiToken, Organisation, Team
from apps.tenancy.scoping import administered_organisation_ids, caller_roles
from apps.tenancy.throttling import FailedLoginThrottle, LoginAddressThrottle, LoginUsernameThrottle


def _me(request: Request) -> dict[str, Any]:
    roles = caller_roles(request)
    teams = Team.objects.filter(pk__in=list(roles)).order_by("slug")
    administered = Organisation.objects.filter(pk__in=administered_organisation_ids(request)).order_by("slug")
    return {
        "id": request.user.pk,
        "username": request.user.get_username(),
        "is_staff": request.user.is_staff,
        "teams": [{"slug": t.slug, "name": t.name, "role": roles[t.pk]} for t in teams],
        "administers": [{"slug": o.slug, "name": o.name} for o in administered],
    }


class CsrfView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(responses={204: None}, summary="Set the CSRF cookie for session clients")
    def get(self, request: Request) -> Response:
        return Response(status=status.HTTP_204_NO_CONTENT)

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        return ensure_csrf_cookie(super().as_view(**initkwargs))


class LoginView(APIView):
    """Sign in with a username and password (the dashboard's form). CSRF-checked like every
    other session write, and throttled: after too many failures for one username, or from one
    address, every attempt is refused (429) until the window passes, the right password too."""

    permission_classes = [AllowAny]
    throttle_classes = [LoginUsernameThrottle, LoginAddressThrottle]

    @extend_schema(
        request=LoginSerializer,
        responses={
            200: MeSerializer,
            403: OpenApiResponse(description="No valid CSRF token (GET /api/v1/auth/csrf/ sets it)"),
            429: OpenApiResponse(description="Too many failed sign-ins; Retry-After says when to try again"),
        },
        summary="Start a dashboard session",
    )
    def post(self, request: Request) -> Response:
        # DRF checks CSRF only for requests already signed in; a login form needs it too
        # (login CSRF: signing a victim's browser into the attacker's account).
        SessionAuthentication().enforce_csrf(request)
        serializer = LoginSerializer(data=request.data, context={"request": request})
        if not serializer.is_valid():
            if serializer.credentials_rejected:
                for throttle in self.get_throttles():
                    if isinstance(throttle, FailedLoginThrottle):
                        throttle.record_failure(request)
            raise ValidationError(serializer.errors)
        login(request._request, serializer.validated_data["user"])
        request.user = serializer.validated_data["user"]
        return Response(MeSerializer(_me(request)).data)

    def throttled(self, request: Request, wait: float | None) -> NoReturn:
        raise Throttled(wait, detail="Too many failed sign-ins; try again later.")


class LogoutView(APIView):
    @extend_schema(request=None, responses={204: None}, summary="End the dashboard session")
    def post(self, request: Request) -> Response:
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    @extend_schema(
        responses={200: MeSerializer},
        summary="Who the caller is, their teams, and the organisations they administer",
    )
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(_me(request)).data)


class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """The teams the caller belongs to."""

    queryset = Team.objects.select_related("organisation").order_by("slug")
    serializer_class = TeamSerializer
    team_field = "pk"
    lookup_field = "slug"

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "roles": caller_roles(self.request)}


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):  # type: ignore[type-arg]
    """The caller's own API tokens (user-scoped, which is narrower than team-scoped)."""

    serializer_class = ApiTokenSerializer
    filterset_fields = ["scope"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> QuerySet[ApiToken]:
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user_id=self._user().pk).select_related("team").order_by("-created_at", "-id")

    def _user(self) -> User:
        user = self.request.user
        assert isinstance(user, User)
        return user

    def _require_session(self) -> None:
        # A leaked token must not be able to mint or revoke tokens.
        if self.request.auth is not None:
            raise PermissionDenied("Manage API tokens from a dashboard session, not with a token.")

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: IssuedTokenSerializer})
    def create(self, request: Request) -> Response:
        self._require_session()
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        team = None
        if data.get("team"):
            roles = caller_roles(request)
            team = Team.objects.filter(slug=data["team"], pk__in=list(roles)).first()
            if team is None:
                raise ValidationError({"team": ["You are not a member of this team."]})
        if "expires_in_days" not in data:
            days: int | None = settings.PADDOCK_TOKEN_DEFAULT_DAYS
        else:
            days = data["expires_in_days"]
        expires_at = timezone.now() + timedelta(days=days) if days else None
        issued = services.create_token(
            actor=self._user(),
            user=self._user(),
            name=data["name"],
            scope=data["scope"],
            team=team,
            expires_at=expires_at,
        )
        body = IssuedTokenSerializer(issued.token).data
        body["token"] = issued.plaintext
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None, responses={200: ApiTokenSerializer, 409: OpenApiResponse(description="Already revoked")}
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        self._require_session()
        token = services.revoke_token(actor=self._user(), token=self.get_object())
        return Response(ApiTokenSerializer(token).data)
