from django.urls import path

from clinic import views

app_name = "clinic"

urlpatterns = [
    path("login/", views.login_page, name="login"),
    path("login/link/", views.sign_in_link_request_view, name="sign_in_link_request"),
    path("login/link/<str:token>/", views.sign_in_link, name="sign_in_link"),
    path("login/staff/", views.staff_sign_in, name="staff_sign_in"),
    path("logout/", views.sign_out, name="logout"),
]
