"""The STSTNet release's flow images, norm_u_v_os (manual download)."""
