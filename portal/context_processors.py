from django.http import HttpRequest

from approvals.selectors.deciders import pending_approval_count
from core.selectors import unread_notification_count


def navigation(request: HttpRequest) -> dict:
    """The pending-approvals and unread-notifications counts shown in the navigation bar."""
    if not request.user.is_authenticated:
        return {}
    return {
        "pending_approvals": pending_approval_count(user=request.user),
        "unread_notifications": unread_notification_count(user=request.user),
    }
