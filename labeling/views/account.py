"""The user's account: accepting an invitation (set a password) and their own API key
(create, shown once; see when it was made; revoke)."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse_lazy
from rest_framework.authtoken.models import Token


class InviteAcceptView(auth_views.PasswordResetConfirmView):
    """The invitation link: the welcome page names the username (made from the e-mail the
    person was invited with); setting a password logs them in and opens their projects."""

    template_name = "registration/invite_accept.html"
    success_url = reverse_lazy("labeling:project_list")
    post_reset_login = True
    post_reset_login_backend = "django.contrib.auth.backends.ModelBackend"

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(
            self.request,
            f"Password set. You are logged in as {form.user.username}; next time log in with "
            "that username or your e-mail address.",
        )
        return response


@login_required
def api_key(request: HttpRequest) -> HttpResponse:
    new_key = ""
    if request.method == "POST":
        Token.objects.filter(user=request.user).delete()
        if request.POST.get("action") == "create":
            new_key = Token.objects.create(user=request.user).key
        else:
            messages.success(request, "API key revoked: requests with it are refused now.")
            return redirect("labeling:api_key")
    token = Token.objects.filter(user=request.user).first()
    return render(request, "account/api_key.html", {"token": token, "new_key": new_key})


urlpatterns = [path("account/api-key/", api_key, name="api_key")]
