from django.urls import path

from assessments.consumers import AssessmentConsumer

websocket_urlpatterns = [
    path("ws/assessments/<uuid:assessment_uuid>/", AssessmentConsumer.as_asgi()),
]
