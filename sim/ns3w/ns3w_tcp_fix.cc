/* The fix to ns-3's TCP the wrapper needs, interposed on libns3-internet.
 *
 * ns-3 3.37's TcpTxBuffer::NextSeg (rule 2 of RFC 6675's NextSeg) offers
 * new data while the bytes in flight are <= the peer's window, so with
 * exactly a window in flight it names a segment the window has no room for;
 * TcpSocketBase::SendPendingData then asks for 0 bytes, CopyFromSequence
 * returns no item and SendDataPacket dies on it (in TcpRateLinux::SkbSent).
 * It happens to any sender that fills a small or closing window: a node
 * slow to read its maps, a 10,000-node registration storm. This
 * definition, which the dynamic linker prefers over libns3-internet's own
 * (the library calls it through its PLT), asks the original and turns that
 * answer into "nothing to send now"; the next ACK sends again.
 *
 * A static library's member is linked only when something refers to it:
 * ns3w_world_new calls tcp_fix_check, so every program that makes a world
 * carries this definition. */
#include "sim/ns3w/ns3w_int.h"

#include <dlfcn.h>

namespace
{
using next_seg_fn = bool (*)(const TcpTxBuffer *, SequenceNumber32 *, SequenceNumber32 *, bool);

/* libns3-internet's own NextSeg: resolved once, constant afterwards. */
next_seg_fn next_seg_original()
{
	static const next_seg_fn original = reinterpret_cast<next_seg_fn>(
	    dlsym(RTLD_NEXT, "_ZNK3ns311TcpTxBuffer7NextSegEPNS_14SequenceNumberIjiEES3_b"));
	return original;
}
} // namespace

namespace ns3
{
bool TcpTxBuffer::NextSeg(SequenceNumber32 *seq, SequenceNumber32 *seqHigh, bool isRecovery) const
{
	const next_seg_fn original = next_seg_original();
	NS3W_ASSERT(original);
	if (!original(this, seq, seqHigh, isRecovery))
		return false;
	bool new_data = *seq >= m_firstByteSeq.Get() + m_sentSize;
	if (new_data && m_sentSize >= m_rWndCallback())
		return false;
	return SizeFromSequence(*seq) > 0;
}
} // namespace ns3

void ns3w_impl::tcp_fix_check(void)
{
	NS3W_ASSERT(next_seg_original());
}
