"""Reviews of purchases, and the programme's threshold for a low rating.

No `review_posted` action rule is created here: its points are the programme's choice.
Until an admin adds one (the demo seed does: 20 points, 5 a month), reviews are posted
and shown but earn nothing (`actions.award_if_active` logs it).
"""

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('loyalty', '0009_messages'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='programme',
            name='review_follow_up_rating',
            field=models.PositiveSmallIntegerField(default=2, help_text="A review rated this or lower shows on the store manager's page as needing a follow-up. 0: none does.", validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(5)], verbose_name='reviews needing a follow-up: rating at most'),
        ),
        migrations.CreateModel(
            name='Review',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('rating', models.PositiveSmallIntegerField(verbose_name='rating')),
                ('comment', models.TextField(blank=True, verbose_name='comment')),
                ('created_at', models.DateTimeField(verbose_name='posted at')),
                ('needs_follow_up', models.BooleanField(default=False, verbose_name='needs a follow-up')),
                ('followed_up_at', models.DateTimeField(blank=True, null=True, verbose_name='followed up at')),
                ('follow_up_note', models.TextField(blank=True, verbose_name='follow-up note')),
                ('action_event', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='loyalty.actionevent', verbose_name='points earned by')),
                ('followed_up_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='followed up by')),
                ('member', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='reviews', to='loyalty.member', verbose_name='member')),
                ('purchase', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='review', to='loyalty.purchase', verbose_name='purchase')),
                ('store', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='reviews', to='loyalty.store', verbose_name='store')),
            ],
            options={
                'verbose_name': 'review',
                'verbose_name_plural': 'reviews',
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['store', 'created_at'], name='review_store_time'), models.Index(fields=['store', 'needs_follow_up', 'followed_up_at'], name='review_follow_up')],
                'constraints': [models.CheckConstraint(condition=models.Q(('rating__gte', 1), ('rating__lte', 5)), name='review_rating_1_to_5')],
            },
        ),
    ]
