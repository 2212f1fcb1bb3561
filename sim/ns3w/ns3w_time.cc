/* Simulated time: running it up to a time (ns3w_run), stopping, and the
 * C timers, each delivered from its own event in its node's context. */
#include "sim/ns3w/ns3w_int.h"

extern "C" uint64_t ns3w_now_us(const struct ns3w_world *)
{
	return (uint64_t)Simulator::Now().GetMicroSeconds();
}

namespace
{
void stop_now(int)
{
	Simulator::Stop();
}
} // namespace

extern "C" uint64_t ns3w_run(struct ns3w_world *w, uint64_t until_us)
{
	NS3W_ASSERT(w && !w->running);
	uint64_t now = ns3w_now_us(w);
	if (until_us <= now)
		return now;
	/* our own stop event, cancelled afterwards: Simulator::Stop(delay)
	 * would leave one behind when ns3w_stop() ends the run early */
	EventId stop = Simulator::Schedule(MicroSeconds((int64_t)(until_us - now)), &stop_now, 0);
	w->running = true;
	Simulator::Run();
	w->running = false;
	Simulator::Cancel(stop);
	return ns3w_now_us(w);
}

extern "C" void ns3w_stop(struct ns3w_world *)
{
	Simulator::Stop();
}

extern "C" uint64_t ns3w_events_executed(const struct ns3w_world *)
{
	return Simulator::GetEventCount();
}

namespace
{
/* Takes `t` off the world's list of pending timers and frees it. */
void timer_delete(struct ns3w_world *w, struct ns3w_timer *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		w->timers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	delete t;
}

void timer_fire(struct ns3w_timer *t)
{
	struct ns3w_world *w = t->world;
	ns3w_timer_fn fn = t->fn;
	void *ctx = t->ctx;
	timer_delete(w, t);
	fn(ctx);
}
} // namespace

extern "C" struct ns3w_timer *ns3w_timer_start(struct ns3w_world *w, int node, uint64_t delay_us,
                                               ns3w_timer_fn fn, void *ctx)
{
	NS3W_ASSERT(w && fn);
	NS3W_ASSERT(node == -1 || node_valid(w, node));
	struct ns3w_timer *t = new ns3w_timer;
	t->world = w;
	t->fn = fn;
	t->ctx = ctx;
	t->next = w->timers;
	if (w->timers)
		w->timers->prev = t;
	w->timers = t;
	t->ev = schedule_ctx(w, node, delay_us, &timer_fire, t);
	return t;
}

extern "C" void ns3w_timer_cancel(struct ns3w_world *w, struct ns3w_timer *t)
{
	if (!t)
		return;
	NS3W_ASSERT(w && t->world == w);
	t->ev->Cancel();
	timer_delete(w, t);
}
